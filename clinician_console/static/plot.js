// Time-series plots on a canvas: a few lines, a shaded band, step lines, event markers.
// No library: the console runs with no network and no build step.
"use strict";

class TimePlot {
  /**
   * @param {HTMLCanvasElement} canvas
   * @param {{min?: number, max?: number, windowS?: number}} options  fixed y range if given
   */
  constructor(canvas, options = {}) {
    this.canvas = canvas;
    this.options = options;
    this.windowS = options.windowS || 300;
    this.lines = new Map();   // name -> {t: [], v: [], color, step, points}
    this.band = null;         // [low, high]
    this.markers = [];        // {t, label, color}
    this.now = 0;
    this.dirty = true;
  }

  line(name, color, style = {}) {
    if (!this.lines.has(name)) {
      this.lines.set(name, {t: [], v: [], color, step: !!style.step, points: !!style.points,
                            scale: style.scale || 1});
    }
    return this.lines.get(name);
  }

  add(name, ts, vs) {
    const line = this.lines.get(name);
    if (!line) return;
    for (let i = 0; i < ts.length; i++) {
      line.t.push(ts[i]);
      line.v.push(vs[i]);
      if (ts[i] > this.now) this.now = ts[i];
    }
    // Keep what the window can show, and a margin.
    const keep = this.now - this.windowS * 1.5;
    let drop = 0;
    while (drop < line.t.length && line.t[drop] < keep) drop++;
    if (drop > 0) { line.t.splice(0, drop); line.v.splice(0, drop); }
    this.dirty = true;
  }

  mark(t, label, color) {
    this.markers.push({t, label, color});
    if (this.markers.length > 500) this.markers.shift();
    if (t > this.now) this.now = t;
    this.dirty = true;
  }

  draw() {
    if (!this.dirty) return;
    this.dirty = false;
    const c = this.canvas;
    const w = c.clientWidth, h = c.clientHeight;
    if (c.width !== w * devicePixelRatio) {
      c.width = w * devicePixelRatio;
      c.height = h * devicePixelRatio;
    }
    const g = c.getContext("2d");
    g.setTransform(devicePixelRatio, 0, 0, devicePixelRatio, 0, 0);
    g.clearRect(0, 0, w, h);
    const left = 36, right = w - 6, top = 6, bottom = h - 16;
    // The whole session while it is young, then the last windowS seconds.
    const t0 = Math.max(0, this.now - this.windowS);
    const t1 = Math.max(this.now, t0 + 60);
    let lo = this.options.min, hi = this.options.max;
    if (lo === undefined || hi === undefined) {
      let a = Infinity, b = -Infinity;
      for (const line of this.lines.values()) {
        for (let i = 0; i < line.t.length; i++) {
          if (line.t[i] < t0) continue;
          const v = line.v[i] * line.scale;
          if (v < a) a = v;
          if (v > b) b = v;
        }
      }
      if (a === Infinity) { a = 0; b = 1; }
      if (b - a < 1e-6) { a -= 1; b += 1; }
      const pad = (b - a) * 0.1;
      lo = lo === undefined ? a - pad : lo;
      hi = hi === undefined ? b + pad : hi;
    }
    const x = (t) => left + (t - t0) / (t1 - t0) * (right - left);
    const y = (v) => bottom - (v - lo) / (hi - lo) * (bottom - top);
    g.font = "10px sans-serif";
    g.fillStyle = "#667";
    g.strokeStyle = "#dde";
    g.lineWidth = 1;
    for (let k = 0; k <= 2; k++) {
      const v = lo + (hi - lo) * k / 2;
      g.beginPath(); g.moveTo(left, y(v)); g.lineTo(right, y(v)); g.stroke();
      g.fillText(v.toFixed(hi - lo < 5 ? 1 : 0), 2, y(v) + 3);
    }
    g.fillText(`${Math.round(t0)} s`, left, h - 3);
    g.fillText(`${Math.round(t1)} s`, right - 40, h - 3);
    if (this.band) {
      g.fillStyle = "rgba(80, 160, 90, 0.15)";
      g.fillRect(left, y(this.band[1]), right - left, y(this.band[0]) - y(this.band[1]));
    }
    for (const m of this.markers) {
      if (m.t < t0) continue;
      g.strokeStyle = m.color || "#b0b0c8";
      g.beginPath(); g.moveTo(x(m.t), top); g.lineTo(x(m.t), bottom); g.stroke();
    }
    for (const line of this.lines.values()) {
      g.strokeStyle = line.color;
      g.fillStyle = line.color;
      g.lineWidth = 1.6;
      g.beginPath();
      let started = false, prev = null;
      for (let i = 0; i < line.t.length; i++) {
        if (line.t[i] < t0) { prev = line.v[i] * line.scale; continue; }
        const px = x(line.t[i]), py = y(line.v[i] * line.scale);
        if (line.points) { g.fillRect(px - 2.5, py - 2.5, 5, 5); continue; }
        if (!started) {
          g.moveTo(px, prev === null ? py : y(prev));
          started = true;
        } else if (line.step) {
          g.lineTo(px, y(prev));
        }
        g.lineTo(px, py);
        prev = line.v[i] * line.scale;
      }
      if (!line.points) {
        if (line.step && started && prev !== null) g.lineTo(right, y(prev));
        g.stroke();
      }
    }
  }
}

window.TimePlot = TimePlot;
