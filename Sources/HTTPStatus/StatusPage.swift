/// The status page: one self-contained HTML file (no external scripts, styles or fonts, so
/// it works on a cluster without internet). It polls /status.json every second and draws
/// workers by member, jobs with their progress, and each training run's loss and held-out
/// Dice curves on a canvas. A `?token=` in its address is passed on to /status.json.
enum StatusPage {
    static let html = #"""
        <!doctype html>
        <html lang="en">
        <head>
        <meta charset="utf-8">
        <meta name="viewport" content="width=device-width, initial-scale=1">
        <title>Tessera cluster</title>
        <style>
          body { font: 14px/1.4 system-ui, sans-serif; margin: 1.5em; color: #1d2330; background: #f7f7f9; }
          h1 { font-size: 1.4em; margin: 0 0 .2em; } h2 { font-size: 1.1em; margin: 1.2em 0 .4em; }
          .sub { color: #667; } table { border-collapse: collapse; background: #fff; }
          th, td { padding: .3em .8em; border-bottom: 1px solid #e3e3ea; text-align: left; }
          th { background: #eef0f5; } .bar { width: 12em; height: .8em; background: #e3e3ea; border-radius: .4em; overflow: hidden; }
          .bar > div { height: 100%; background: #3b7dd8; } .state-failed { color: #b3261e; } .state-finished { color: #1e7b34; }
          .run { background: #fff; padding: .6em .9em; margin-bottom: 1em; border: 1px solid #e3e3ea; display: inline-block; vertical-align: top; }
          canvas { display: block; margin-top: .4em; } #error { color: #b3261e; }
        </style>
        </head>
        <body>
        <h1>Tessera cluster</h1>
        <div class="sub" id="summary">connecting…</div>
        <div id="error"></div>
        <h2>Workers</h2>
        <table id="workers"><thead><tr><th>member</th><th>worker</th><th>state</th><th>tiles/s</th><th>in flight</th><th>tiles done</th></tr></thead><tbody></tbody></table>
        <h2>Jobs</h2>
        <table id="jobs"><thead><tr><th>job</th><th>kind</th><th>name</th><th>state</th><th>progress</th><th></th><th>note</th></tr></thead><tbody></tbody></table>
        <h2>Training runs</h2>
        <div id="runs"><span class="sub">none</span></div>
        <script>
        "use strict";
        const token = new URLSearchParams(location.search).get("token");
        const text = s => String(s ?? "").replace(/[&<>"]/g, c => ({"&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;"}[c]));
        function plot(canvas, series, yLabel, steps) {
          const g = canvas.getContext("2d"), w = canvas.width, h = canvas.height, left = 44, bottom = 22, top = 20;
          g.clearRect(0, 0, w, h); g.font = "11px sans-serif"; g.fillStyle = "#667";
          const points = series.flatMap(s => s.points);
          canvas.dataset.points = points.length; // what a headless check reads back
          if (points.length === 0) { g.fillText("no " + yLabel + " yet", left, h / 2); return; }
          const xMax = Math.max(1, steps, ...points.map(p => p[0]));
          let yMin = Math.min(...points.map(p => p[1])), yMax = Math.max(...points.map(p => p[1]));
          if (yMax - yMin < 1e-9) { yMin -= 0.5; yMax += 0.5; }
          const X = x => left + (w - left - 8) * x / xMax, Y = y => top + (h - bottom - top) * (1 - (y - yMin) / (yMax - yMin));
          g.strokeStyle = "#ccd"; g.beginPath(); g.moveTo(left, top); g.lineTo(left, h - bottom); g.lineTo(w - 8, h - bottom); g.stroke();
          g.fillText(yMax.toPrecision(3), 2, top + 4); g.fillText(yMin.toPrecision(3), 2, h - bottom); g.fillText("step " + xMax, w - 60, h - 6); g.fillText("0", left, h - 6);
          g.fillText(yLabel, left, 12);
          for (const s of series) {
            g.strokeStyle = s.colour; g.fillStyle = s.colour; g.lineWidth = 1.5; g.beginPath();
            s.points.forEach((p, i) => i ? g.lineTo(X(p[0]), Y(p[1])) : g.moveTo(X(p[0]), Y(p[1]))); g.stroke();
            if (s.dots) for (const p of s.points) { g.beginPath(); g.arc(X(p[0]), Y(p[1]), 2.5, 0, 7); g.fill(); }
          }
        }
        function draw(status) {
          document.getElementById("summary").textContent =
            `${status.workers.length} workers · ${status.members.length} members (${status.members.join(", ")}) · ` +
            `${status.tilesPerSecond.toFixed(1)} tiles/s · updated ${new Date().toLocaleTimeString()}`;
          document.querySelector("#workers tbody").innerHTML = status.workers.map(w =>
            `<tr><td>${text(w.member)}</td><td>${text(w.name)}</td><td>${text(w.state)}</td><td>${w.tilesPerSecond.toFixed(2)}</td>` +
            `<td>${w.inFlight}</td><td>${w.tilesDone}</td></tr>`).join("") || `<tr><td colspan="6" class="sub">no worker has joined</td></tr>`;
          document.querySelector("#jobs tbody").innerHTML = status.jobs.map(j => {
            const fraction = j.tilesTotal > 0 ? j.tilesDone / j.tilesTotal : 0;
            return `<tr><td>${j.job}</td><td>${text(j.kind || "slide")}</td><td>${text(j.name)}</td><td class="state-${text(j.state)}">${text(j.state)}</td>` +
              `<td><div class="bar"><div style="width:${(100 * fraction).toFixed(1)}%"></div></div></td>` +
              `<td>${j.tilesDone} / ${j.tilesTotal} ${j.kind === "training" ? "steps" : "tiles"}</td><td>${text(j.note)}</td></tr>`;
          }).join("") || `<tr><td colspan="7" class="sub">no jobs</td></tr>`;
          const runs = document.getElementById("runs");
          if (status.runs.length === 0) { runs.innerHTML = `<span class="sub">none</span>`; return; }
          runs.innerHTML = status.runs.map(r =>
            `<div class="run" id="run-${r.job}"><b>run ${r.job}</b> ${text(r.name)} · member ${text(r.member)} · ${text(r.state)} · ` +
            `step ${r.step} of ${r.steps}${r.ring.length ? " · ring: " + r.ring.map(text).join(", ") : ""}` +
            `<canvas class="loss" width="420" height="160"></canvas><canvas class="dice" width="420" height="160"></canvas></div>`).join("");
          for (const r of status.runs) {
            const box = document.getElementById("run-" + r.job);
            plot(box.querySelector(".loss"), [{points: r.loss, colour: "#3b7dd8"}], "training loss", r.steps);
            plot(box.querySelector(".dice"), [{points: r.validation, colour: "#1e7b34", dots: true}], "held-out Dice", r.steps);
          }
        }
        async function refresh() {
          try {
            const response = await fetch("status.json", {headers: token ? {"Authorization": "Bearer " + token} : {}, cache: "no-store"});
            if (!response.ok) throw new Error(response.status + " " + (await response.text()));
            draw(await response.json());
            document.getElementById("error").textContent = "";
            document.body.dataset.loaded = "yes";
          } catch (error) {
            document.getElementById("error").textContent = "cannot reach the coordinator: " + error.message;
          }
        }
        refresh();
        setInterval(refresh, 1000);
        </script>
        </body>
        </html>
        """#
}
