/*
 * Liusha service-circle planner: draws a map's overlays from its page data.
 * Inlined into every map by planner/offline.py; the data is the JSON blob that
 * planner/maps.py writes (coordinates delta-encoded as integers, text escaped).
 * Checked with `node --check` (tests/test_offline_html.py).
 */
/* exported plannerInit */

/**
 * Fill the map's layer groups and add the panel, scale bar and Tianditu layer.
 *
 * @param {L.Map} map the folium map
 * @param {L.Control.Layers} control its layer control
 * @param {Object} G the folium layer groups: streets, pieces, facilityBands, bandToggles,
 *   pois (by kind group), facilities, gaps, crowfly, and the Amap tile layer
 * @param {Object} P the page data (see planner.maps.build_map)
 */
function plannerInit(map, control, G, P) {
  "use strict";
  var mode = "wgs";
  map.createPane("plannerStreets").style.zIndex = 350;
  map.createPane("plannerBands").style.zIndex = 400;
  map.createPane("plannerPieces").style.zIndex = 440;
  map.createPane("plannerPois").style.zIndex = 450;
  map.createPane("plannerFacilities").style.zIndex = 460;
  var streetRenderer = L.canvas({pane: "plannerStreets", tolerance: 4});
  var pieceRenderer = L.canvas({pane: "plannerPieces", tolerance: 4});
  var poiRenderer = P.canvas ? L.canvas({pane: "plannerPois"}) : L.svg({pane: "plannerPois"});
  // many POIs come with many bands: draw those on a canvas too (one element, not thousands)
  var bandRenderer = P.canvas ? L.canvas({pane: "plannerBands", tolerance: 2}) : null;
  var gapsBuilt = false;  // the gap cells are built the first time their layer is shown
  var bandOn = P.bandsMin.map(function () { return true; });
  var focus = null;  // facility index shown alone, or null
  var focusBand = {};  // POI row -> band index of the focused facility
  var poiMarkers = [];  // every POI marker, with plannerPoi (its row) and plannerGroup

  // WGS-84 -> GCJ-02 by bilinear interpolation of the offset grid (planner.crs.gcj02_shift)
  function shift(lat, lon) {
    if (mode !== "gcj") { return [lat, lon]; }
    var g = P.grid, fx = (lon - g.lon0) / g.step, fy = (lat - g.lat0) / g.step;
    fx = Math.min(Math.max(fx, 0), g.nx - 1);
    fy = Math.min(Math.max(fy, 0), g.ny - 1);
    var i = Math.min(Math.floor(fx), g.nx - 2), j = Math.min(Math.floor(fy), g.ny - 2);
    var tx = fx - i, ty = fy - j, k = j * g.nx + i;
    function at(a) {
      return a[k] * (1 - tx) * (1 - ty) + a[k + 1] * tx * (1 - ty) +
        a[k + g.nx] * (1 - tx) * ty + a[k + g.nx + 1] * tx * ty;
    }
    return [lat + at(g.dlat), lon + at(g.dlon)];
  }

  // integers packed by planner.maps.pack_ints: 5-bit chunks (char - 63, 32 = more), zig-zag
  function unpack(s) {
    var out = [], z = 0, mul = 1;
    for (var i = 0; i < s.length; i++) {
      var b = s.charCodeAt(i) - 63;
      z += (b & 31) * mul;
      if (b < 32) {
        out.push(z % 2 ? -(z + 1) / 2 : z / 2);
        z = 0;
        mul = 1;
      } else {
        mul *= 32;
      }
    }
    return out;
  }

  // running sums (delta-encoded columns)
  function cumsum(a) {
    for (var i = 1; i < a.length; i++) { a[i] += a[i - 1]; }
    return a;
  }

  // decode packed [x0, y0, dx1, dy1, ...] (planner.maps.encode_line) into shifted [lat, lon]s
  function line(s) {
    var a = unpack(s), out = [], x = 0, y = 0;
    for (var i = 0; i < a.length; i += 2) {
      x += a[i];
      y += a[i + 1];
      out.push(shift(y / P.scale, x / P.scale));
    }
    return out;
  }

  // decode packed [n, dx, dy (n times), n, ...] (planner.maps.encode_multilines): lines
  function lines(s) {
    var a = unpack(s), out = [], x = 0, y = 0, i = 0;
    while (i < a.length) {
      var n = a[i++], l = [];
      for (var k = 0; k < n; k++) {
        x += a[i++];
        y += a[i++];
        l.push(shift(y / P.scale, x / P.scale));
      }
      out.push(l);
    }
    return out;
  }

  // the POI rows planner.maps.poi_data describes, from the packed columns of poi_columns
  var poiRows = {};
  Object.keys(P.pois.groups).forEach(function (k) {
    var c = P.pois.groups[k], T = P.pois.text, rows = [];
    var x = cumsum(unpack(c.x)), y = cumsum(unpack(c.y)), r = cumsum(unpack(c.r));
    var col = unpack(c.c), kind = unpack(c.k), near = unpack(c.f), m = unpack(c.m);
    var st = unpack(c.s), notes = {};
    c.o.forEach(function (o) { notes[o[0]] = o[1]; });
    for (var j = 0; j < x.length; j++) {
      rows.push([x[j] / 1e6, y[j] / 1e6, col[j], c.n[j], T[kind[j]], T[near[j]],
        m[j] ? (m[j] - 1) / 10 : null, T[st[j]], notes[j] || "", r[j]]);
    }
    poiRows[k] = rows;
  });
  var reach = P.reach.map(unpack);

  // a facility's popup (planner.maps.popup_html builds the same text)
  function popupHtml(i) {
    var f = P.facilities[i], rows = "", items = "";
    f.bands.forEach(function (b) {
      rows += "<tr><td>≤" + b[0] + " 分钟 min</td><td style='text-align:right'>" + b[1] +
        "</td></tr>";
    });
    f.top.forEach(function (t) {
      items += "<li>" + t[0] + " <small>" + (P.kindLabels[t[1]] || t[1]) + " · " + t[2] +
        " 分钟 min</small></li>";
    });
    var kind = P.kindLabels["#" + f.id] || kindText(f.kind);
    return "<div class='planner-popup'><b>" + f.id + " " + f.name + "</b><br><small>" +
      kind + " · 入口 entrances: " + f.ent[0] + "/" + f.ent[1] + "</small>" +
      (f.status !== null ? "<div style='color:#b00'>状态 status: " + f.status + "</div>" : "") +
      "<table>" + rows + "</table><div>可达商户与服务点（由近及远） Reached, nearest first:</div>" +
      "<ol>" + (items || "<li>（无 none）</li>") + "</ol>" +
      (f.more ? "<div>…另有 " + f.more + " 个 and " + f.more + " more</div>" : "") + "</div>";
  }

  // the layer that holds facility i's bands (one per facility, or one for all)
  function bandGroup(i) {
    return G.facilityBands[P.bandLayerPerFacility ? i : 0];
  }

  function buildStreets() {
    G.streets.clearLayers();
    P.streets.forEach(function (s) {
      var pl = L.polyline(lines(s.l), {renderer: streetRenderer, color: P.streetColour,
        weight: s.w, opacity: 0.85, interactive: s.n !== ""});
      if (s.n !== "") { pl.bindTooltip(s.n, {sticky: true}); }
      G.streets.addLayer(pl);
    });
  }

  function buildPieces() {
    if (!G.pieces) { return; }
    G.pieces.clearLayers();
    P.pieces.forEach(function (p) {
      var pl = L.polyline(p.l.map(line), {renderer: pieceRenderer, color: P.pieceColour,
        weight: 3.5, opacity: 0.95});
      pl.plannerPiece = p.i;
      pl.bindTooltip(p.t, {sticky: true});
      G.pieces.addLayer(pl);
    });
    P.legs.forEach(function (g) {
      var pl = L.polyline([shift(g[1], g[0]), shift(g[3], g[2])], {renderer: pieceRenderer,
        color: P.pieceColour, weight: 1.5, opacity: 0.9, dashArray: "4 3"});
      pl.plannerLeg = true;
      pl.bindTooltip(g[4], {sticky: true});
      G.pieces.addLayer(pl);
    });
  }

  // one layer for every facility's bands: with no facility in focus, only the bands in view
  // from street zoom on (a city's 1,500 overlapping bands at once help nobody, and cost memory)
  function inView(b) {
    if (P.bandLayerPerFacility || focus !== null) { return true; }
    if (map.getZoom() < P.bandZoom) { return false; }
    var v = map.getBounds().pad(0.5), s = P.scale;
    return b.bb[0] / s <= v.getEast() && b.bb[2] / s >= v.getWest() &&
      b.bb[1] / s <= v.getNorth() && b.bb[3] / s >= v.getSouth();
  }

  function buildBands() {
    G.facilityBands.forEach(function (g) { g.clearLayers(); });
    P.bands.forEach(function (b) {
      if (!bandOn[b.b] || (focus !== null && b.f !== focus) || !inView(b)) { return; }
      var c = P.palette[b.b], f = P.facilities[b.f];
      var opts = {pane: "plannerBands", color: c, weight: 1, fillColor: c, fillOpacity: 0.25};
      if (bandRenderer) { opts.renderer = bandRenderer; }
      var pg = L.polygon(b.p.map(lines), opts);
      pg.plannerBand = P.bandsMin[b.b];
      pg.plannerFacility = b.f;
      pg.bindTooltip(f.id + " " + f.name + ": ≤" + P.bandsMin[b.b] + " 分钟 min", {sticky: true});
      bandGroup(b.f).addLayer(pg);
    });
  }

  // gap cells: [i, j, [uncovered per band], unreached street m] on the metric lattice, drawn
  // through the quadratic map in P.gaps.affine; or [encoded ring, [...], m, cell id]
  function gapCell(c) {
    var g = P.gaps, a = g.affine;
    if (!a) { return {ring: line(c[0]), counts: c[1], street: c[2], id: c[3]}; }
    var x0 = c[0] * g.size, y0 = c[1] * g.size;
    var ring = [[0, 0], [g.size, 0], [g.size, g.size], [0, g.size]].map(function (d) {
      var x = (x0 + d[0]) / 1000, y = (y0 + d[1]) / 1000;  // km from the lattice origin
      var t = [1, x, y, x * x, x * y, y * y], lon = 0, lat = 0;
      for (var i = 0; i < 6; i++) { lon += a[i] * t[i]; lat += a[6 + i] * t[i]; }
      return shift(lat, lon);
    });
    var id = "E" + Math.round(g.origin[0] + x0) + "N" + Math.round(g.origin[1] + y0);
    return {ring: ring, counts: c[2], street: c[3], id: id};
  }

  function buildGaps() {
    if (!G.gaps || !P.gaps) { return; }
    G.gaps.clearLayers();
    gapsBuilt = map.hasLayer(G.gaps);
    if (!gapsBuilt) { return; }
    var last = P.bandsMin.length - 1;
    P.gaps.cells.forEach(function (raw) {
      var c = gapCell(raw);
      var n = c.counts[last], k = P.gaps.cellMax ? n / P.gaps.cellMax : 0;
      var tip = "<b>服务缺口 Gap cell " + c.id + "</b>";
      P.bandsMin.forEach(function (b, i) {
        tip += "<br>≤" + b + " 分钟 min 未覆盖商户 uncovered merchants: " + c.counts[i];
      });
      tip += "<br>超出 " + P.bandsMin[last] + " 分钟的街道 street beyond the largest band: " +
        Math.round(c.street) + " m";
      var pg = L.polygon(c.ring, {pane: "plannerBands", color: n ? P.gapColour : "#999999",
        weight: 0.6, fillColor: n ? P.gapColour : "#bbbbbb",
        fillOpacity: n ? 0.15 + 0.6 * k : 0.12});
      pg.plannerGap = n;
      pg.bindTooltip(tip, {sticky: true});
      G.gaps.addLayer(pg);
    });
  }

  // one dashed circle per entrance and band: the straight-line radius (speed x minutes)
  function buildCrowfly() {
    if (!G.crowfly || !P.gaps) { return; }
    G.crowfly.clearLayers();
    P.entrances.forEach(function (e) {
      if (!e[4]) { return; }  // no walk starts at an entrance too far from every street
      var f = P.facilities[e[2]];
      P.gaps.radii.forEach(function (r, i) {
        var c = L.circle(shift(e[1], e[0]), {pane: "plannerBands", radius: r,
          color: P.palette[i], weight: 2, dashArray: "6 6", fill: false});
        c.plannerCrowfly = P.bandsMin[i];
        c.bindTooltip(f.id + " " + f.name + ": 直线半径 crow-fly ≤" + P.bandsMin[i] +
          " 分钟 min (" + Math.round(r) + " m)", {sticky: true});
        G.crowfly.addLayer(c);
      });
    });
  }

  // A popup fits the map's width and opens clear of the top-left buttons (Leaflet draws the
  // controls over popups): below them on a phone, right of them on a wider screen.
  function popupOptions() {
    var size = map.getSize(), top = 10, left = 10;
    var corner = map.getContainer().querySelector(".leaflet-top.leaflet-left");
    if (corner && corner.offsetHeight) {
      var box = corner.getBoundingClientRect(), at = map.getContainer().getBoundingClientRect();
      if (phone) { top = Math.ceil(box.bottom - at.top) + 8; }
      else { left = Math.ceil(box.right - at.left) + 8; }
    }
    // 46 px: the popup's margins and border around its content
    return {maxWidth: Math.max(120, Math.min(360, size.x - left - 10 - 46)),
      autoPanPaddingTopLeft: L.point(left, top), autoPanPaddingBottomRight: L.point(10, 10)};
  }

  // After Leaflet's own panning, an open popup is moved clear of the open panels (the layer
  // list and the legend, drawn over popups): by the smallest shift that clears them all and
  // keeps it on the map, if there is one.
  function clearPanels(ev) {
    var el = ev.popup.getElement();
    if (!el) { return; }
    var at = map.getContainer().getBoundingClientRect(), size = map.getSize(), gap = 8;
    function box(e) {
      var r = e.getBoundingClientRect();
      return {l: r.left - at.left, t: r.top - at.top, r: r.right - at.left, b: r.bottom - at.top};
    }
    var pop = box(el.querySelector(".leaflet-popup-content-wrapper") || el);
    var panels = Array.prototype.slice.call(map.getContainer().querySelectorAll(
      ".leaflet-control-layers-expanded, .planner-panel-box.planner-open, .leaflet-top .leaflet-bar"
    )).filter(function (e) { return e.offsetWidth; }).map(box);
    function hits(dx, dy) {
      return panels.some(function (q) {
        return pop.l + dx < q.r && pop.r + dx > q.l && pop.t + dy < q.b && pop.b + dy > q.t;
      });
    }
    if (!hits(0, 0)) { return; }
    var moves = [[0, 0]];
    panels.forEach(function (q) {
      moves.push([q.l - gap - pop.r, 0], [q.r + gap - pop.l, 0], [0, q.t - gap - pop.b],
        [0, q.b + gap - pop.t]);
    });
    var n = moves.length;
    for (var i = 1; i < n; i++) {  // and pairs: clear of one panel sideways, another vertically
      for (var j = 1; j < n; j++) {
        if (moves[i][0] && moves[j][1]) { moves.push([moves[i][0], moves[j][1]]); }
      }
    }
    var best = null;
    moves.forEach(function (m) {
      var fits = pop.l + m[0] >= 0 && pop.r + m[0] <= size.x && pop.t + m[1] >= 0 &&
        pop.b + m[1] <= size.y;
      var cost = Math.abs(m[0]) + Math.abs(m[1]);
      if (fits && !hits(m[0], m[1]) && (!best || cost < best.cost)) {
        best = {dx: m[0], dy: m[1], cost: cost};
      }
    });
    if (best) { map.panBy(L.point(-best.dx, -best.dy), {animate: false}); }
  }
  map.on("popupopen", clearPanels);

  function buildFacilities() {
    G.facilities.clearLayers();
    P.entrances.forEach(function (e) {
      var f = P.facilities[e[2]];
      var m = L.circleMarker(shift(e[1], e[0]), {pane: "plannerFacilities", radius: 8,
        color: P.facilityEdgeColour, weight: 2, fillColor: P.facilityColour, fillOpacity: 1});
      m.plannerFacility = e[2];
      m.bindTooltip("<b>" + f.id + "</b> " + e[3]);
      m.bindPopup(popupHtml(e[2]), popupOptions());
      m.on("click", function () { setFocus(focus === e[2] ? null : e[2]); });
      G.facilities.addLayer(m);
    });
  }

  // p: [lon, lat, colour index, name, kind, nearest facility, minutes, status, note]
  // a kind in words where the page has them (planner.maps.kind_labels), the tag after
  function kindText(k) {
    var words = P.kindLabels[k];
    return words ? words + " <small>(" + k + ")</small>" : k;
  }

  function poiTip(p) {
    return (p[3] || "(无名称 unnamed)") + "<br>" + kindText(p[4]) + "<br>最近服务点 nearest: " +
      (p[5] || "–") + " · " + (p[6] === null ? "–" : p[6].toFixed(1)) +
      " 分钟 min<br>状态 status: " + p[7] + (p[8] ? "<br>" + p[8] : "");
  }

  // a POI marker's tooltip, bound when first needed (100,000 tooltips up front cost memory)
  function tipOf(m) {
    if (!m.getTooltip()) { m.bindTooltip(poiTip(m.plannerRow)); }
    return m.getTooltip();
  }
  if (P.canvas) {
    Object.keys(G.pois).forEach(function (k) {
      G.pois[k].on("mouseover", function (e) {
        if (!e.layer.getTooltip()) { tipOf(e.layer); e.layer.openTooltip(e.latlng); }
      });
    });
  }

  // in focus: only the POIs the focused facility reaches, coloured by its own band
  function buildPois() {
    poiMarkers = [];
    Object.keys(poiRows).forEach(function (k) {
      var g = G.pois[k];
      g.clearLayers();
      poiRows[k].forEach(function (p) {
        var c = p[2];
        if (focus !== null) {
          if (!(p[9] in focusBand)) { return; }
          c = focusBand[p[9]];
        }
        var m = L.circleMarker(shift(p[1], p[0]), {renderer: poiRenderer, radius: 4,
          color: p[8] ? P.pieceColour : P.poiEdgeColour, weight: p[8] ? 2 : 0.6,
          fillColor: P.palette[c], fillOpacity: 0.9});
        if (!P.canvas) { m.bindTooltip(poiTip(p)); }  // on a canvas: on first hover (tipOf)
        m.plannerRow = p;
        m.plannerPoi = p[9];
        m.plannerGroup = k;
        m.plannerName = p[3];
        g.addLayer(m);
        poiMarkers.push(m);
      });
    });
  }

  // focus on facility i (null: all): its bands, the POIs it reaches, counts per band
  function setFocus(i) {
    focus = i === null || i === "" ? null : Number(i);
    focusBand = {};
    var counts = P.bandsMin.map(function () { return 0; });
    if (focus !== null) {
      var r = reach[focus];
      for (var j = 0; j < r.length; j += 2) {
        if (!(r[j] in focusBand)) { counts[r[j + 1]] += 1; }
        focusBand[r[j]] = r[j + 1];
      }
    }
    buildBands();
    buildPois();
    var sel = document.getElementById("planner-focus");
    if (sel) { sel.value = focus === null ? "" : String(focus); }
    if (focusBar) {  // a phone: say the map shows one facility's reach, and how to leave it
      focusBar.style.display = focus === null ? "none" : "block";
      if (focus !== null) {
        focusBar.firstChild.innerHTML = "仅显示 " + P.facilities[focus].id + " 的可达范围 " +
          "Only " + P.facilities[focus].id + "'s reach";
      }
    }
    var out = document.getElementById("planner-focus-counts");
    if (out) {
      var lo = 0, html = "";
      if (focus !== null) {
        P.bandsMin.forEach(function (b, k) {
          html += "<div class='planner-count' data-band='" + b + "'><span class='sw' " +
            "style='background:" + P.palette[k] + "'></span>" + lo + "–" + b +
            " 分钟 min: <b>" + counts[k] + "</b></div>";
          lo = b;
        });
      }
      out.innerHTML = html;
    }
  }

  // text of an escaped name (the page data holds HTML-escaped text)
  function plain(s) {
    var d = document.createElement("div");
    d.innerHTML = s || "";
    return d.textContent;
  }

  // facilities and merchants whose name contains q (case-insensitive)
  function search(q) {
    q = q.trim().toLowerCase();
    var hits = [];
    if (!q) { return hits; }
    G.facilities.getLayers().forEach(function (m) {
      var f = P.facilities[m.plannerFacility];
      var name = plain(f.id + " " + f.name);
      if (name.toLowerCase().indexOf(q) >= 0 &&
          !hits.some(function (h) { return h.facility === m.plannerFacility; })) {
        hits.push({marker: m, facility: m.plannerFacility, label: name});
      }
    });
    poiMarkers.forEach(function (m) {
      var name = plain(m.plannerName);
      if (name.toLowerCase().indexOf(q) >= 0) {
        // the nearest facility and minutes tell apart merchants of one name (a bank's
        // branches)
        var p = m.plannerRow, near = p[5] ? plain(p[5]) + " " +
          (p[6] === null ? "–" : p[6].toFixed(1)) + " 分钟 min" : "–";
        hits.push({marker: m, label: name + " · 最近 nearest " + near});
      }
    });
    return hits;
  }

  function goTo(hit) {
    var m = hit.marker;
    map.setView(m.getLatLng(), Math.max(map.getZoom(), 18), {animate: false});
    if (hit.facility !== undefined) {
      m.openPopup();
    } else if (map.hasLayer(m)) {
      tipOf(m);
      m.openTooltip();
    }
  }

  // The bottom-left controls (scale bar, legend) sit above the attribution where it reaches
  // them: on a phone it spans the screen, and a tap on the legend button must not open its
  // links. Measured again when the base layer (its attribution), the size or the panel change.
  function clearAttribution() {
    var corner = map.getContainer().querySelector(".leaflet-bottom.leaflet-left");
    var attr = map.attributionControl ? map.attributionControl.getContainer() : null;
    if (!corner || !attr) { return; }
    corner.style.bottom = "";
    var a = attr.getBoundingClientRect(), c = corner.getBoundingClientRect();
    if (a.width && a.height && a.left < c.right && a.right > c.left && a.top < c.bottom) {
      corner.style.bottom = Math.ceil(c.bottom - a.top) + "px";
    }
    if (tipBar) { placeTipBar(); }
  }

  // The opening view: the study area (P.fit) fitted into the largest part of the map that the
  // open layer list and legend leave free, so that no facility starts under a panel. Each
  // candidate is a rectangle bounded by the map's sides and the panels' sides that overlaps
  // no panel; the one giving the closest zoom wins (then the larger one).
  function fitFree(legend) {
    var size = map.getSize(), at = map.getContainer().getBoundingClientRect(), gap = 10;
    var panels = [control.getContainer(), legend].filter(function (el) {
      return el && el.offsetWidth && el.offsetHeight;
    }).map(function (el) {
      var r = el.getBoundingClientRect();
      return {l: r.left - at.left, t: r.top - at.top, r: r.right - at.left, b: r.bottom - at.top};
    });
    var xs0 = [0], xs1 = [size.x], ys0 = [0], ys1 = [size.y];
    panels.forEach(function (p) { xs0.push(p.r); xs1.push(p.l); ys0.push(p.b); ys1.push(p.t); });
    var bounds = L.latLngBounds(P.fit), best = null;
    xs0.forEach(function (x0) { xs1.forEach(function (x1) {
      ys0.forEach(function (y0) { ys1.forEach(function (y1) {
        var w = x1 - x0 - 2 * gap, h = y1 - y0 - 2 * gap;
        if (w < 120 || h < 120) { return; }
        var clear = panels.every(function (p) {
          return p.r <= x0 || p.l >= x1 || p.b <= y0 || p.t >= y1;
        });
        if (!clear) { return; }
        var zoom = map.getBoundsZoom(bounds, false, L.point(size.x - w, size.y - h));
        if (!best || zoom > best.zoom || (zoom === best.zoom && w * h > best.area)) {
          best = {zoom: zoom, area: w * h, tl: L.point(x0 + gap, y0 + gap),
            br: L.point(size.x - x1 + gap, size.y - y1 + gap)};
        }
      }); });
    }); });
    map.fitBounds(bounds, best ? {paddingTopLeft: best.tl, paddingBottomRight: best.br,
      animate: false} : {animate: false});
  }

  function buildAll() {
    buildStreets();
    buildPieces();
    buildBands();
    buildGaps();
    buildCrowfly();
    buildFacilities();
    buildPois();
  }

  map.on("overlayadd overlayremove", function (e) {
    if (e.layer === G.gaps && e.type === "overlayadd" && !gapsBuilt) { buildGaps(); }
    var b = G.bandToggles.indexOf(e.layer);
    if (b >= 0) {
      bandOn[b] = e.type === "overlayadd";
      buildBands();
    }
  });
  if (!P.bandLayerPerFacility) {
    map.on("moveend", function () { if (focus === null) { buildBands(); } });
  }
  // Layers added to the map after planner.maps.build_map (a comparison's gained and lost
  // merchants, a proposal's marks, a notebook user's own) follow the Amap shift as well:
  // each leaf keeps its WGS-84 position and is placed in the current mode when the mode
  // changes or its overlay is shown again.
  var own = [G.streets, G.facilities, G.amap, G.gaps, G.crowfly, G.pieces]
    .concat(G.facilityBands, G.bandToggles, Object.keys(G.pois).map(function (k) {
      return G.pois[k];
    }));
  own.forEach(function (g) { if (g) { g.plannerOwn = true; } });
  function shiftAll(a) {
    return Array.isArray(a) ? a.map(shiftAll) : L.latLng(shift(a.lat, a.lng));
  }
  function place(l) {
    if (l.plannerOwn || l instanceof L.DivOverlay) { return; }  // (popups, tooltips: theirs)
    if (l.getLatLngs) {
      if (!l.plannerWgs) { l.plannerWgs = l.getLatLngs(); }
      l.setLatLngs(shiftAll(l.plannerWgs));
    } else if (l.getLatLng && l.setLatLng) {
      if (!l.plannerWgs) { l.plannerWgs = l.getLatLng(); }
      l.setLatLng(shift(l.plannerWgs.lat, l.plannerWgs.lng));
    } else if (l.eachLayer) {
      l.eachLayer(place);
    }
  }
  var placing = 0;
  function placeForeign() {  // the layers on the map no group holds, and the groups' leaves
    placing += 1;
    map.eachLayer(function (l) {
      if (l.eachLayer && !l.getLatLngs) {
        l.eachLayer(function (c) { c.plannerGrouped = placing; });
      }
    });
    map.eachLayer(function (l) { if (l.plannerGrouped !== placing) { place(l); } });
  }
  map.on("overlayadd", function (e) { place(e.layer); });

  map.on("baselayerchange", function (e) {
    var next = e.layer === G.amap ? "gcj" : "wgs";
    if (next === mode) { return; }
    mode = next;
    buildAll();
    placeForeign();
    var el = document.getElementById("planner-crs");
    if (el) {
      el.textContent = mode === "gcj"
        ? "当前叠加图层已偏移至 GCJ-02（高德） Overlays now: GCJ-02 (Amap)"
        : "当前叠加图层 Overlays now: WGS-84";
    }
  });

  if (P.tianditu) {
    var tdt = L.layerGroup(["vec", "cva"].map(function (layer) {
      return L.tileLayer(P.tianditu.replace(/LAYER_NAME/g, layer),
        {subdomains: "01234567", maxZoom: 18, attribution: "© 天地图 Tianditu"});
    }));
    control.addBaseLayer(tdt, "天地图 Tianditu (CGCS2000, 需联网 needs internet)");
  }

  var phone = window.innerWidth <= P.phoneWidth;
  if (phone) {
    // the layer list starts collapsed behind its button (Leaflet's `collapsed` option)
    control.remove();
    control.options.collapsed = true;
    control.addTo(map);
    // a tap opens it (its button), a tap on the map or "Close" shuts it; no hover on phones
    L.DomEvent.off(control.getContainer(), {mouseenter: control._expandSafely,
      mouseleave: control.collapse}, control);
  }
  // On a phone a tooltip's text shows in a bar across the map, not beside its marker where a
  // long name runs off the screen (Leaflet's own tooltips are hidden there, planner.css). The
  // bar goes to the half of the map away from what was tapped (it appears during the tap:
  // under the finger it would take the tap's click): below the top-left buttons, or above the
  // bottom-left ones. A tap on another marker replaces it; "×" or a tap on the map away from
  // any marker closes it.
  var tipBar = null, tipShown = null, tipLow = false, focusBar = null;
  function placeTipBar() {
    var box = map.getContainer().getBoundingClientRect();
    if (tipLow) {  // the tapped point is in the lower half: the bar at the top
      var tl = map.getContainer().querySelector(".leaflet-top.leaflet-left");
      tipBar.style.top = Math.ceil((tl ? tl.getBoundingClientRect().bottom : box.top) -
        box.top + 8) + "px";
      tipBar.style.bottom = "auto";
    } else {
      var bl = map.getContainer().querySelector(".leaflet-bottom.leaflet-left");
      tipBar.style.bottom = Math.ceil(box.bottom - (bl ? bl.getBoundingClientRect().top :
        box.bottom) + 6) + "px";
      tipBar.style.top = "auto";
    }
  }
  function hideTip() {  // and close the tooltip shown: a tap on its marker opens it again
    var shown = tipShown;
    tipBar.style.display = "none";
    tipShown = null;
    if (shown && shown.isOpen()) { shown.close(); }
  }
  if (phone) {
    focusBar = L.DomUtil.create("div", "planner-focusbar", map.getContainer());
    L.DomUtil.create("span", "", focusBar);
    var all = L.DomUtil.create("button", "planner-focusbar-all", focusBar);
    all.type = "button";
    all.textContent = "显示全部 Show all";
    L.DomEvent.disableClickPropagation(focusBar);
    L.DomEvent.on(all, "click", function () { setFocus(null); });
    focusBar.style.display = "none";
    tipBar = L.DomUtil.create("div", "planner-tipbar", map.getContainer());
    var tipText = L.DomUtil.create("div", "planner-tipbar-text", tipBar);
    var tipClose = L.DomUtil.create("button", "planner-tipbar-close", tipBar);
    tipClose.type = "button";
    tipClose.textContent = "×";
    tipClose.setAttribute("aria-label", "关闭 Close");
    L.DomEvent.disableClickPropagation(tipBar);
    L.DomEvent.on(tipClose, "click", hideTip);
    hideTip();
    map.on("tooltipopen", function (ev) {
      if (tipShown && tipShown !== ev.tooltip && tipShown.isOpen()) { tipShown.close(); }
      var c = ev.tooltip.getContent();
      tipText.innerHTML = "";
      if (typeof c === "string") { tipText.innerHTML = c; }  // the page's own escaped HTML
      else if (c && c.cloneNode) { tipText.appendChild(c.cloneNode(true)); }
      tipShown = ev.tooltip;
      var at = ev.tooltip.getLatLng();
      tipLow = !!at && map.latLngToContainerPoint(at).y > map.getSize().y / 2;
      tipBar.style.display = "block";
      placeTipBar();
    });
    map.on("tooltipclose", function (ev) { if (ev.tooltip === tipShown) { hideTip(); } });
    map.on("popupopen", hideTip);  // a facility's popup says all its tooltip does
    map.on("click", function (ev) {
      var t = ev.originalEvent && ev.originalEvent.target;
      if (!(t && t.classList && t.classList.contains("leaflet-interactive"))) { hideTip(); }
    });
  }

  var close = L.DomUtil.create("button", "planner-close", control.getContainer()
    .querySelector(".leaflet-control-layers-list"));
  close.type = "button";
  close.textContent = "收起 Close";
  L.DomEvent.on(close, "click", function (ev) {
    L.DomEvent.stop(ev);
    control.collapse();
  });
  if (!phone) { close.style.display = "none"; }

  var panel = L.control({position: "bottomleft"});
  panel.onAdd = function () {
    var d = L.DomUtil.create("div", "planner-panel-box");
    var btn = L.DomUtil.create("button", "planner-toggle", d);
    btn.type = "button";
    btn.textContent = "图例 Legend";
    var body = L.DomUtil.create("div", "planner-panel", d);
    var opts = "<option value=''>全部 All</option>" + P.facilities.map(function (f, i) {
      return "<option value='" + i + "'>" + f.id + " " + f.name + "</option>";
    }).join("");
    body.innerHTML = "<div class='planner-tools'><label>聚焦服务点 Focus on a facility " +
      "<select id='planner-focus'>" + opts + "</select></label>" +
      "<div id='planner-focus-counts'></div>" +
      "<label>搜索 Search <input id='planner-search' type='search' " +
      "placeholder='名称 name'></label><div id='planner-hits'></div></div>" + P.panel;
    function show(on) {
      body.style.display = on ? "" : "none";
      btn.setAttribute("aria-expanded", on ? "true" : "false");
      L.DomUtil[on ? "addClass" : "removeClass"](d, "planner-open");
      clearAttribution();
    }
    // a search hit on a phone: the panel (most of the screen) closes to show what was found
    function found(hit) {
      if (phone) { show(false); }
      goTo(hit);
    }
    show(!phone);
    L.DomEvent.on(btn, "click", function () { show(body.style.display === "none"); });
    L.DomEvent.on(body.querySelector("#planner-focus"), "change", function (ev) {
      setFocus(ev.target.value);
    });
    var input = body.querySelector("#planner-search"), list = body.querySelector("#planner-hits");
    var hits = [];
    L.DomEvent.on(input, "input", function () {
      hits = search(input.value);
      list.innerHTML = "";
      hits.slice(0, 20).forEach(function (h) {
        var b = L.DomUtil.create("button", "planner-hit", list);
        b.type = "button";
        b.textContent = h.label;
        L.DomEvent.on(b, "click", function () { found(h); });
      });
      if (hits.length > 20) {
        L.DomUtil.create("div", "", list).textContent = "…共 " + hits.length + " 个 " +
          hits.length + " found";
      }
    });
    L.DomEvent.on(input, "keydown", function (ev) {
      if (ev.key === "Enter" && hits.length) { found(hits[0]); }
    });
    L.DomEvent.disableClickPropagation(d);
    L.DomEvent.disableScrollPropagation(d);
    return d;
  };
  panel.addTo(map);
  L.control.scale({imperial: false, maxWidth: 160}).addTo(map);
  map.attributionControl.addAttribution("© OpenStreetMap contributors");
  clearAttribution();
  // measured once the new base layer's attribution is in (after the event's other handlers),
  // and whenever the attribution's size changes where the browser can say so
  map.on("baselayerchange resize", function () { setTimeout(clearAttribution, 0); });
  if (window.ResizeObserver) {
    new window.ResizeObserver(clearAttribution).observe(map.attributionControl.getContainer());
  }
  if (phone) { map.fitBounds(P.fit, {animate: false}); } else { fitFree(panel.getContainer()); }
  buildAll();
  window.planner = {map: map, layers: G, mode: function () { return mode; },
    focus: setFocus, focused: function () { return focus; }, search: search,
    popupHtml: popupHtml, pois: poiRows, tip: tipOf};
}
