// rtsmap's map page: the site's PMTiles layers (rts-publish), a year selector that filters
// every layer, a panel with a clicked slump's attributes and its track's history, a legend,
// a scale bar and a search by track id or coordinates. Everything it loads is in the site.
"use strict";

window.rts = { ready: false, firstFeaturesMs: null, errors: [] };
window.addEventListener("error", (event) => window.rts.errors.push(String(event.message)));

const YEAR_COLOURS = ["#1b9e77", "#d95f02", "#7570b3", "#e7298a", "#66a61e", "#e6ab02", "#a6761d", "#1f78b4",
  "#b2182b", "#4d4d4d"];
const H3_MAX_ZOOM = 10;
const LAYER_NAMES = { level2: "Level 2 footprints", tracks: "Tracks", coverage: "Coverage (per year)",
  h3: "H3 density (% of cell affected; zoomed out)", quicklooks: "Scene quicklooks" };

function yearColour(years) {
  if (!years.length) return "#d95f02";
  const match = ["match", ["get", "year"]];
  years.forEach((year, index) => match.push(year, YEAR_COLOURS[index % YEAR_COLOURS.length]));
  match.push("#888888");
  return match;
}

function style(config, base) {
  const sources = {};
  const layers = [{ id: "background", type: "background", paint: { "background-color": "#eef2f5" } }];
  const colour = yearColour(config.years);
  for (const name of Object.keys(config.layers)) {
    sources[name] = { type: "vector", url: "pmtiles://" + new URL(config.layers[name].url, base).href };
  }
  if (sources.coverage) {
    layers.push({ id: "coverage-fill", type: "fill", source: "coverage", "source-layer": "coverage",
      paint: { "fill-color": colour, "fill-opacity": 0.12 } });
  }
  if (sources.h3) {
    // density is the overview of a region or the Arctic: it gives way to the footprints
    layers.push({ id: "h3-fill", type: "fill", source: "h3", "source-layer": "h3", maxzoom: H3_MAX_ZOOM,
      paint: { "fill-color": ["interpolate", ["linear"], ["coalesce", ["get", "affected_pct"], 0],
        0, "#fff7bc", 1, "#fec44f", 5, "#d95f0e", 20, "#993404"], "fill-opacity": 0.35,
        "fill-outline-color": "#99340455" } });
  }
  if (sources.tracks) {
    layers.push({ id: "tracks-line", type: "line", source: "tracks", "source-layer": "tracks",
      paint: { "line-color": "#263238", "line-width": 1.2, "line-dasharray": [2, 1] } });
  }
  if (sources.level2) {
    layers.push({ id: "level2-fill", type: "fill", source: "level2", "source-layer": "level2",
      paint: { "fill-color": colour, "fill-opacity": 0.75 } });
    layers.push({ id: "level2-line", type: "line", source: "level2", "source-layer": "level2",
      paint: { "line-color": "#000000", "line-width": 0.6, "line-opacity": 0.6 } });
  }
  return { version: 8, sources, layers };
}

const LAYER_IDS = { level2: ["level2-fill", "level2-line"], tracks: ["tracks-line"], coverage: ["coverage-fill"],
  h3: ["h3-fill"] };

function yearFilters(year) {
  if (year === "all") return { level2: null, coverage: null, h3: null, tracks: null };
  const same = ["==", ["get", "year"], year];
  return { level2: same, coverage: same, h3: same,
    tracks: ["all", ["<=", ["get", "first_year"], year], [">=", ["get", "last_year"], year]] };
}

function formatNumber(value, digits = 0) {
  return Number(value).toLocaleString("en", { maximumFractionDigits: digits, minimumFractionDigits: digits });
}

function historyChart(history, selectedYear) {
  if (!history.length) return "";
  const width = 280, height = 120, left = 44, bottom = 18, top = 8;
  const years = history.map((entry) => entry[0]);
  const areas = history.map((entry) => entry[1]);
  const maxArea = Math.max(...areas, 1);
  const span = Math.max(years[years.length - 1] - years[0], 1);
  const x = (year) => left + ((year - years[0]) / span) * (width - left - 12);
  const y = (area) => height - bottom - (area / maxArea) * (height - bottom - top);
  const points = history.map(([year, area]) => `${x(year).toFixed(1)},${y(area).toFixed(1)}`).join(" ");
  const dots = history.map(([year, area]) =>
    `<circle cx="${x(year).toFixed(1)}" cy="${y(area).toFixed(1)}" r="${year === selectedYear ? 4 : 2.5}" ` +
    `fill="${year === selectedYear ? "#d95f02" : "#263238"}"><title>${year}: ${formatNumber(area)} m²</title></circle>`
  ).join("");
  const labels = history.map(([year]) =>
    `<text x="${x(year).toFixed(1)}" y="${height - 4}" text-anchor="middle">${year}</text>`).join("");
  return `<svg class="history" viewBox="0 0 ${width} ${height}" role="img" aria-label="Area per year">` +
    `<text x="2" y="${top + 4}">${formatNumber(maxArea)} m²</text><text x="2" y="${height - bottom}">0</text>` +
    `<line x1="${left}" y1="${height - bottom}" x2="${width - 8}" y2="${height - bottom}" stroke="#99a"/>` +
    `<polyline points="${points}" fill="none" stroke="#263238" stroke-width="1.5"/>${dots}${labels}</svg>`;
}

function escapeHtml(text) {
  return String(text).replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" })[c]);
}

function attributeRows(properties) {
  const rows = [];
  const add = (label, value) => rows.push(`<tr><td>${label}</td><td>${value}</td></tr>`);
  if (properties.year !== undefined) add("year", escapeHtml(properties.year));
  if (properties.area_m2 !== undefined) {
    add("area", `<span class="area" data-area-m2="${Number(properties.area_m2)}">${formatNumber(properties.area_m2)} m²` +
      ` (${formatNumber(properties.area_m2 / 10000, 2)} ha)</span>`);
  }
  if (properties.first_year !== undefined) add("years", `${properties.first_year}–${properties.last_year}`);
  if (properties.detection_ratio !== undefined) add("detection ratio", formatNumber(properties.detection_ratio, 2));
  if (properties.n_observations !== undefined) add("observations", escapeHtml(properties.n_observations));
  if (properties.first_observed !== undefined) add("observed", `${escapeHtml(properties.first_observed)} to ` +
    `${escapeHtml(properties.last_observed)}`);
  if (properties.volume_change_m3 !== undefined && properties.volume_change_m3 !== null) {
    add("volume change", `${formatNumber(properties.volume_change_m3)} ± ${formatNumber(properties.volume_change_sigma_m3)} m³`);
  }
  return rows.join("");
}

function scenesAt(config, lngLat, year) {
  return config.scenes.filter((scene) => {
    const [west, south, east, north] = scene.bbox;
    return lngLat.lng >= west && lngLat.lng <= east && lngLat.lat >= south && lngLat.lat <= north &&
      (year === undefined || scene.year === year);
  });
}

function showFeature(config, feature, lngLat) {
  const properties = feature.properties;
  let history = [];
  try { history = JSON.parse(properties.history || "[]"); } catch (error) { history = []; }
  const layerName = feature.layer.id.startsWith("level2") ? "Level 2 footprint" : "Track";
  const year = properties.year === undefined ? undefined : Number(properties.year);
  const scenes = scenesAt(config, lngLat, year);
  const sceneLinks = scenes.map((scene) =>
    `<li>${escapeHtml(scene.id)}: ` +
    (scene.quicklook ? `<a href="${encodeURI(scene.quicklook)}" target="_blank">quicklook</a>, ` : "") +
    `<a href="${encodeURI(scene.item)}" target="_blank">STAC item</a></li>`).join("");
  const collection = feature.layer.id.startsWith("level2") ? "level2" : "tracks";
  document.getElementById("panel-body").innerHTML =
    `<h2>Track <span id="panel-track">${escapeHtml(properties.track_id)}</span></h2>` +
    `<p class="note">${layerName}</p>` +
    `<table class="attributes">${attributeRows(properties)}</table>` +
    `<h3>Area per year (track)</h3>${historyChart(history, year)}` +
    `<h3>Scenes</h3>${sceneLinks ? `<ul class="links">${sceneLinks}</ul>` : "<p class=\"note\">none published here</p>"}` +
    `<p class="note"><a href="${collection}/${collection}/${collection}.json" target="_blank">STAC item of the ` +
    `${collection} product</a></p>`;
  document.getElementById("panel").hidden = false;
}

function buildLegend(config, map, state) {
  const legend = document.getElementById("legend");
  const names = [...Object.keys(config.layers), ...(config.scenes.some((s) => s.quicklook) ? ["quicklooks"] : [])];
  for (const name of names) {
    const label = document.createElement("label");
    label.className = "toggle";
    const box = document.createElement("input");
    box.type = "checkbox";
    box.checked = name !== "quicklooks";
    box.id = `layer-${name}`;
    box.addEventListener("change", () => {
      const ids = name === "quicklooks" ? state.quicklookLayers : LAYER_IDS[name];
      state.hidden[name] = !box.checked;
      for (const id of ids) if (map.getLayer(id)) applyVisibility(map, state, id, name);
    });
    if (name === "quicklooks") state.hidden.quicklooks = true;
    label.append(box, ` ${LAYER_NAMES[name] || name}`);
    legend.append(label);
  }
  const years = document.getElementById("year-legend");
  years.innerHTML = config.years.map((year, index) =>
    `<span class="entry"><span class="swatch" style="background:${YEAR_COLOURS[index % YEAR_COLOURS.length]}"></span>${year}</span>`
  ).join("");
}

function applyVisibility(map, state, id, name) {
  let visible = !state.hidden[name];
  if (name === "quicklooks" && visible && state.year !== "all") visible = state.quicklookYears[id] === state.year;
  map.setLayoutProperty(id, "visibility", visible ? "visible" : "none");
}

function setYear(map, state, year) {
  state.year = year;
  const filters = yearFilters(year);
  for (const [name, ids] of Object.entries(LAYER_IDS)) {
    for (const id of ids) if (map.getLayer(id)) map.setFilter(id, filters[name]);
  }
  for (const id of state.quicklookLayers) applyVisibility(map, state, id, "quicklooks");
}

async function search(map, config, text, message) {
  message.textContent = "";
  const coordinates = text.match(/^\s*(-?\d+(?:\.\d+)?)\s*[, ]\s*(-?\d+(?:\.\d+)?)\s*$/);
  if (coordinates) {
    const lat = Number(coordinates[1]), lng = Number(coordinates[2]);
    if (Math.abs(lat) > 90 || Math.abs(lng) > 180) { message.textContent = "latitude, longitude out of range"; return; }
    map.flyTo({ center: [lng, lat], zoom: Math.max(map.getZoom(), 12) });
    return;
  }
  if (!window.rts.trackIndex) window.rts.trackIndex = await (await fetch(config.track_index)).json();
  const entry = window.rts.trackIndex.find((row) => String(row[0]) === text.trim());
  if (!entry) { message.textContent = `no track ${text.trim()}`; return; }
  map.fitBounds([[entry[1], entry[2]], [entry[3], entry[4]]], { padding: 80, maxZoom: 16, duration: 0 });
}

async function main() {
  const config = await (await fetch("config.json")).json();
  const protocol = new pmtiles.Protocol();
  maplibregl.addProtocol("pmtiles", protocol.tile);
  const base = new URL(".", window.location.href).href;
  // hash: the view is in the address (#zoom/lat/lon), so a view can be shared or bookmarked
  const map = new maplibregl.Map({ container: "map", style: style(config, base), bounds: config.bounds, hash: true,
    fitBoundsOptions: { padding: 40 }, maxZoom: 18, attributionControl: { compact: true } });
  window.rts.map = map;
  map.addControl(new maplibregl.NavigationControl(), "top-right");
  map.addControl(new maplibregl.ScaleControl({ unit: "metric", maxWidth: 120 }), "bottom-left");
  const state = { year: "all", hidden: {}, quicklookLayers: [], quicklookYears: {} };
  buildLegend(config, map, state);
  const select = document.getElementById("year");
  for (const year of config.years) select.add(new Option(String(year), String(year)));
  select.addEventListener("change", () => setYear(map, state, select.value === "all" ? "all" : Number(select.value)));
  document.getElementById("reports").innerHTML = config.reports.map((path) =>
    ` · <a href="${encodeURI(path)}">${escapeHtml(path.split("/").pop())}</a>`).join("");
  document.getElementById("basemap-name").textContent = config.basemap.name;
  document.getElementById("basemap").addEventListener("change", (event) => {
    if (event.target.checked) {
      map.addSource("basemap", { type: "raster", tiles: [config.basemap.tiles], tileSize: 256,
        attribution: config.basemap.attribution });
      map.addLayer({ id: "basemap", type: "raster", source: "basemap" }, map.getStyle().layers[1].id);
    } else {
      map.removeLayer("basemap");
      map.removeSource("basemap");
    }
  });
  document.getElementById("globe").addEventListener("change", (event) => {
    map.setProjection({ type: event.target.checked ? "globe" : "mercator" });
  });
  const form = document.getElementById("search");
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    search(map, config, document.getElementById("search-text").value, document.getElementById("search-message"));
  });
  document.getElementById("panel-close").addEventListener("click", () => { document.getElementById("panel").hidden = true; });
  map.on("error", (event) => {
    const message = event && event.error ? event.error.message : String(event);
    window.rts.errors.push(message);
    console.error(message);
  });
  map.on("load", () => {
    config.scenes.forEach((scene, index) => {
      if (!scene.quicklook || !scene.corners) return;
      const id = `quicklook-${index}`;
      map.addSource(id, { type: "image", url: scene.quicklook, coordinates: scene.corners });
      map.addLayer({ id, type: "raster", source: id, layout: { visibility: "none" }, paint: { "raster-opacity": 0.85 } },
        ["tracks-line", "level2-fill"].find((below) => map.getLayer(below)));
      state.quicklookLayers.push(id);
      state.quicklookYears[id] = scene.year;
    });
  });
  const clickable = ["level2-fill", "tracks-line"];
  map.on("click", (event) => {
    const features = map.queryRenderedFeatures(event.point, { layers: clickable.filter((id) => map.getLayer(id)) });
    if (features.length) showFeature(config, features[0], event.lngLat);
  });
  for (const id of clickable) {
    map.on("mouseenter", id, () => { map.getCanvas().style.cursor = "pointer"; });
    map.on("mouseleave", id, () => { map.getCanvas().style.cursor = ""; });
  }
  // page load (navigation start) to the first frame that shows Level-2 features
  const firstFeatures = () => {
    if (map.getLayer("level2-fill") && map.queryRenderedFeatures({ layers: ["level2-fill"] }).length) {
      window.rts.firstFeaturesMs = performance.now();
      map.off("render", firstFeatures);
    }
  };
  map.on("render", firstFeatures);
  map.on("idle", () => { window.rts.ready = true; });
}

main().catch((error) => {
  window.rts.errors.push(String(error));
  console.error(error);
});
