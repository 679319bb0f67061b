// Map preview of one dataset version: Natural Earth countries as the basemap (served by the
// app), then the version's sampled features (vector) or its thumbnail (raster). No tiles,
// fonts or scripts from anywhere but this app.
(function () {
  "use strict";
  const el = document.getElementById("map");
  if (!el || !window.maplibregl) return;
  const status = document.getElementById("map-status");
  const kind = el.dataset.kind;
  const bounds = el.dataset.bounds ? el.dataset.bounds.split(",").map(Number) : null;
  const say = (text) => { if (status) status.textContent = text; };
  const done = (state, text) => { el.dataset.state = state; say(text); };

  maplibregl.setWorkerUrl(new URL("/static/vendor/maplibre-gl/maplibre-gl-csp-worker.js", location.href).href);
  const map = new maplibregl.Map({
    container: el,
    style: {
      version: 8,
      sources: {},
      layers: [{ id: "background", type: "background", paint: { "background-color": "#dcebf5" } }],
    },
    center: [0, 20],
    zoom: 0.6,
    attributionControl: { compact: true, customAttribution: "Basemap: Natural Earth" },
  });
  window.etlMap = map; // the browser tests and the console read the map's state
  el.dataset.state = "loading";
  map.addControl(new maplibregl.NavigationControl({ showCompass: false }));

  const fit = () => {
    if (!bounds) return;
    const [x0, y0, x1, y1] = bounds;
    if (x0 === x1 && y0 === y1) map.jumpTo({ center: [x0, y0], zoom: 8 });
    else map.fitBounds([[x0, y0], [x1, y1]], { padding: 24, animate: false, maxZoom: 14 });
  };

  const addVector = async () => {
    const response = await fetch(el.dataset.previewUrl, { headers: { Accept: "application/geo+json" } });
    if (!response.ok) {
      const body = await response.json().catch(() => ({}));
      throw new Error(body.description || "the preview could not be made (" + response.status + ")");
    }
    const data = await response.json();
    map.addSource("data", { type: "geojson", data: data });
    const is = (types) => ["match", ["geometry-type"], types, true, false];
    map.addLayer({ id: "data-fill", type: "fill", source: "data", filter: is(["Polygon", "MultiPolygon"]),
      paint: { "fill-color": "#d9480f", "fill-opacity": 0.35 } });
    map.addLayer({ id: "data-line", type: "line", source: "data",
      filter: is(["Polygon", "MultiPolygon", "LineString", "MultiLineString"]),
      paint: { "line-color": "#a61e4d", "line-width": 1.2 } });
    map.addLayer({ id: "data-point", type: "circle", source: "data", filter: is(["Point", "MultiPoint"]),
      paint: { "circle-color": "#a61e4d", "circle-radius": 4, "circle-stroke-color": "#fff", "circle-stroke-width": 1 } });
    fit();
    const total = data["etl:total_features"];
    const shown = data.features.length;
    map.once("idle", () => {
      el.dataset.features = String(shown);
      done("drawn", shown < total
        ? "Showing " + shown.toLocaleString() + " of " + total.toLocaleString() + " features (evenly sampled)."
        : "Showing all " + shown.toLocaleString() + " features.");
    });
  };

  const addRaster = () => {
    if (!bounds) throw new Error("the raster has no bounding box in EPSG:4326");
    const [x0, y0, x1, y1] = bounds;
    map.addSource("data", { type: "image", url: el.dataset.thumbnailUrl,
      coordinates: [[x0, y1], [x1, y1], [x1, y0], [x0, y0]] });
    map.addLayer({ id: "data-raster", type: "raster", source: "data", paint: { "raster-opacity": 0.85 } });
    fit();
    map.once("idle", () => done("drawn", "Showing a thumbnail of the raster."));
  };

  map.on("error", (event) => {
    if (el.dataset.state === "loading" && event && event.sourceId === "data") {
      done("failed", "The preview could not be drawn: " + (event.error && event.error.message));
    }
  });
  map.on("load", async () => {
    map.addSource("basemap", { type: "geojson", data: el.dataset.basemapUrl });
    map.addLayer({ id: "countries", type: "fill", source: "basemap",
      paint: { "fill-color": "#f6f3ec", "fill-outline-color": "#a8a293" } });
    try {
      if (kind === "vector") await addVector();
      else if (kind === "raster") addRaster();
      else { fit(); done("drawn", "A table without geometries: nothing to draw."); }
    } catch (error) {
      done("failed", "The preview could not be drawn: " + error.message);
    }
  });
})();
