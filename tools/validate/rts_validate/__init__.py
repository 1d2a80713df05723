"""rts-validate: Score predictions against reference footprints, object by object or pixel by pixel."""
