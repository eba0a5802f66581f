// The call page: charts of every connection's tracks (uPlot), issue
// intervals shaded, and while the call runs, one poll per stats interval
// that updates charts and the live parts in place; polling stops when the
// call has ended. The chart data stays readable in window.pmCharts (tests
// read it instead of pixels); window.pmTiming holds what loading cost.
(function () {
  "use strict";
  var root = document.getElementById("call");
  if (!root || !window.uPlot) return;
  var url = root.dataset.url;
  var ongoing = root.dataset.ongoing === "true";
  var interval = Math.min(Math.max(parseInt(root.dataset.interval, 10) || 10000, 1000), 10000);
  var chartsBox = document.getElementById("charts");
  var plots = {};
  window.pmCharts = {};
  window.pmPolls = 0;

  var METRICS = [
    ["bitrate", "Bitrate (kbit/s)", function (v) { return v == null ? null : v / 1000; }],
    ["loss_pct", "Packet loss (%)"],
    ["jitter_ms", "Jitter (ms)"],
    ["rtt_ms", "Round-trip time (ms)"],
    ["fps", "Frames per second"],
    ["height", "Resolution (height, px)"],
    ["mos", "Audio MOS"],
    ["video_score", "Video score"],
  ];
  var COLORS = { "audio inbound": "#2458d6", "video inbound": "#1f9d55", "audio outbound": "#9333ea", "video outbound": "#d98a00" };

  function name(id, fallback) { return id || fallback || "?"; }

  function groups(graphs) {
    var byConnection = {};
    graphs.series.forEach(function (s) {
      var key = s.connection;
      if (!byConnection[key]) {
        byConnection[key] = {
          connection: key, participant: s.participant,
          title: name(s.participant_name, s.participant_id) + " → " + name(s.peer_name, s.peer_id),
          series: [],
        };
      }
      byConnection[key].series.push(s);
    });
    return Object.keys(byConnection).sort(function (a, b) {
      return byConnection[a].title < byConnection[b].title ? -1 : 1;
    }).map(function (k) { return byConnection[k]; });
  }

  // One aligned table [xs, ys...] from several series' [t, ...] rows.
  function aligned(lines) {
    var times = {};
    lines.forEach(function (line) { line.rows.forEach(function (r) { times[r[0]] = true; }); });
    var xs = Object.keys(times).map(Number).sort(function (a, b) { return a - b; });
    var index = {};
    xs.forEach(function (t, i) { index[t] = i; });
    var data = [xs.map(function (t) { return t / 1000; })];
    lines.forEach(function (line) {
      var ys = new Array(xs.length).fill(null);
      line.rows.forEach(function (r) { ys[index[r[0]]] = line.value(r); });
      data.push(ys);
    });
    return data;
  }

  function shadingOf(group, issues) {
    return issues.filter(function (i) {
      return i.connection ? i.connection === group.connection : i.participant === group.participant;
    }).map(function (i) {
      return { from: i.from / 1000, to: (i.to || Date.now()) / 1000, type: i.type, code: i.code };
    });
  }

  function shadeHook(key) {
    return function (u) {
      var entry = window.pmCharts[key];
      if (!entry) return;
      var ctx = u.ctx;
      ctx.save();
      entry.shaded.forEach(function (s) {
        var x0 = u.valToPos(Math.max(s.from, u.scales.x.min), "x", true);
        var x1 = u.valToPos(Math.min(s.to, u.scales.x.max), "x", true);
        if (x1 <= x0) return;
        ctx.fillStyle = s.type === "error" ? "rgba(214,58,58,0.09)" : "rgba(217,138,0,0.12)";
        ctx.fillRect(x0, u.bbox.top, Math.max(x1 - x0, 2), u.bbox.height);
      });
      ctx.restore();
    };
  }

  function width(box) { return Math.max(Math.floor(box.clientWidth || 320), 260); }

  function render(payload) {
    var issues = payload.issues;
    var seen = {};
    groups(payload.graphs).forEach(function (group) {
      var section = document.getElementById("conn-" + group.connection);
      if (!section) {
        section = document.createElement("section");
        section.className = "connection";
        section.id = "conn-" + group.connection;
        section.innerHTML = "<h3></h3><div class=\"charts\"></div>";
        section.querySelector("h3").textContent = group.title;
        chartsBox.appendChild(section);
      }
      var grid = section.querySelector(".charts");
      var shaded = shadingOf(group, issues);
      METRICS.forEach(function (metric) {
        var column = metric[0];
        var lines = group.series.filter(function (s) { return s.columns.indexOf(column) > 0; }).map(function (s) {
          var at = s.columns.indexOf(column);
          var convert = metric[2] || function (v) { return v; };
          return {
            label: s.kind + " " + (s.direction === "inbound" ? "in" : "out") + (s.label ? " (" + s.label + ")" : ""),
            color: COLORS[s.kind + " " + s.direction] || "#555",
            rows: s.data,
            value: function (r) { return convert(r[at]); },
          };
        }).filter(function (line) {
          return line.rows.some(function (r) { return line.value(r) != null; });
        });
        if (!lines.length) return;
        var key = group.connection + ":" + column;
        seen[key] = true;
        var data = aligned(lines);
        window.pmCharts[key] = {
          connection: group.connection, metric: column, title: metric[1],
          labels: lines.map(function (l) { return l.label; }),
          points: data.slice(1).map(function (ys) { return ys.filter(function (v) { return v != null; }).length; }),
          xs: data[0], ys: data.slice(1), shaded: shaded,
        };
        var plot = plots[key];
        if (plot && plot.series.length === data.length) {
          plot.setData(data);
          return;
        }
        if (plot) {  // a track appeared: the chart gets a line more
          plot.root.parentNode.remove();
          plot.destroy();
        }
        var box = document.createElement("div");
        box.className = "chart";
        box.dataset.chart = key;
        box.setAttribute("role", "img");
        box.setAttribute("aria-label", metric[1] + " of " + group.title + ": " +
          lines.map(function (l) { return l.label; }).join(", ") +
          (shaded.length ? "; " + shaded.length + " issue interval(s) shaded" : ""));
        box.innerHTML = "<h4></h4>";
        box.querySelector("h4").textContent = metric[1];
        grid.appendChild(box);
        plots[key] = new window.uPlot({
          width: width(box), height: 150,
          scales: { x: { time: true } },
          series: [{}].concat(lines.map(function (l) {
            return { label: l.label, stroke: l.color, width: 1.5, spanGaps: true, points: { show: false } };
          })),
          axes: [{ size: 30 }, { size: 48 }],
          legend: { show: true, live: false },
          hooks: { drawClear: [shadeHook(key)] },
        }, data, box);
      });
    });
    if (!payload.graphs.series.length) {
      chartsBox.innerHTML = "<p class=\"empty\" id=\"charts-state\">No stats yet: charts appear once the SDK sends its first samples" +
        (payload.ongoing ? " (this page updates by itself)." : ".") + "</p>";
    } else {
      var state = document.getElementById("charts-state");
      if (state) state.remove();
    }
  }

  function parts(payload) {
    ["header", "participants", "issues"].forEach(function (part) {
      var box = document.getElementById("call-" + part);
      if (box && payload.parts[part] !== undefined) box.innerHTML = payload.parts[part];
    });
  }

  function load(first) {
    var started = performance.now();
    return fetch(url, { credentials: "same-origin", headers: { Accept: "application/json" } })
      .then(function (r) { if (!r.ok) throw new Error("HTTP " + r.status); return r.json(); })
      .then(function (payload) {
        var fetched = performance.now();
        render(payload);
        if (!first) parts(payload);
        var done = performance.now();
        if (first) {
          var points = payload.graphs.series.reduce(function (n, s) { return n + s.data.length; }, 0);
          window.pmTiming = { fetch_ms: fetched - started, render_ms: done - fetched, total_ms: done - started,
                              series: payload.graphs.series.length, points: points, charts: Object.keys(plots).length };
        }
        ongoing = payload.ongoing;
        root.dataset.ongoing = String(ongoing);
        return payload;
      });
  }

  function poll() {
    if (!ongoing) { root.dataset.polling = "stopped"; return; }
    root.dataset.polling = "on";
    setTimeout(function () {
      load(false).then(function () { window.pmPolls += 1; poll(); }, function () {
        chartsBox.insertAdjacentHTML("afterbegin", "<p class=\"error\" role=\"alert\">Lost contact with the server; retrying.</p>");
        setTimeout(poll, interval);
      });
    }, interval);
  }

  load(true).then(function () { root.dataset.loaded = "true"; poll(); }, function (error) {
    chartsBox.innerHTML = "<p class=\"error\" role=\"alert\" id=\"charts-state\">Could not load the charts (" + error.message + "). Reload the page to try again.</p>";
  });

  var resize;
  window.addEventListener("resize", function () {
    clearTimeout(resize);
    resize = setTimeout(function () {
      Object.keys(plots).forEach(function (key) {
        var box = document.querySelector("[data-chart=\"" + key + "\"]");
        if (box) plots[key].setSize({ width: width(box), height: 150 });
      });
    }, 150);
  });
})();
