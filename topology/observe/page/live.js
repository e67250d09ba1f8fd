// The live page: polls /api/graph (the model of `ockamtop graph` with each
// part's state and byte count) and redraws; rates come from the byte
// counts of two polls. No framework, no build step.
"use strict";

const SVG = "http://www.w3.org/2000/svg";
const POLL_MS = 1000;
let previous = null; // the last poll, for rates

function el(name, attrs, parent) {
  const e = document.createElementNS(SVG, name);
  for (const [k, v] of Object.entries(attrs || {})) e.setAttribute(k, v);
  if (parent) parent.appendChild(e);
  return e;
}

function text(parent, x, y, s, cls) {
  const t = el("text", { x, y }, parent);
  if (cls) t.setAttribute("class", cls);
  t.textContent = s;
  return t;
}

function rate(bytesPerSecond) {
  if (!(bytesPerSecond > 0)) return "0 B/s";
  const units = ["B/s", "KB/s", "MB/s", "GB/s"];
  let i = 0;
  while (bytesPerSecond >= 1000 && i < units.length - 1) { bytesPerSecond /= 1000; i++; }
  return bytesPerSecond.toFixed(bytesPerSecond < 10 && i > 0 ? 1 : 0) + " " + units[i];
}

// rateOf is a part's bytes per second since the last poll.
function rateOf(key, bytes, now) {
  if (!previous || !(key in previous.bytes)) return 0;
  const dt = (now - previous.time) / 1000;
  const db = bytes - previous.bytes[key];
  return dt > 0 && db > 0 ? db / dt : 0;
}

function draw(live) {
  const svg = document.getElementById("graph");
  svg.replaceChildren();
  // Nodes on an ellipse: no straight edge between two of them crosses a
  // third.
  const n = live.nodes.length;
  const width = Math.max(1000, 160 * n), height = Math.max(480, 60 * n);
  svg.setAttribute("width", width);
  svg.setAttribute("height", height);
  const cx = width / 2, cy = height / 2;
  const pos = {};
  live.nodes.forEach((node, i) => {
    const angle = Math.PI + 2 * Math.PI * i / n;
    pos[node.name] = n === 1 ? { x: cx, y: cy } :
      { x: cx + (width / 2 - 290) * Math.cos(angle), y: cy + (height / 2 - 110) * Math.sin(angle) };
  });
  const bytes = {};
  const rows = [];

  // Edges first, under the nodes. Edges between the same two nodes bend
  // apart so that each keeps its label.
  const pairs = {};
  live.edges.forEach((e) => {
    const a = pos[e.from], b = pos[e.to];
    if (!a || !b) return;
    // Bend along the normal of the pair's line, each edge of a pair its
    // own way, so that each keeps its label.
    const [p, q] = e.from < e.to ? [a, b] : [b, a];
    const pair = [e.from, e.to].sort().join("\u0000");
    const k = pairs[pair] = (pairs[pair] || 0) + 1;
    const len = Math.hypot(q.x - p.x, q.y - p.y) || 1;
    const nx = -(q.y - p.y) / len, ny = (q.x - p.x) / len;
    const bend = (k % 2 ? 1 : -1) * (35 + 45 * Math.floor((k - 1) / 2));
    const mx = (a.x + b.x) / 2 + nx * bend * 2, my = (a.y + b.y) / 2 + ny * bend * 2;
    const key = "edge:" + e.kind + ":" + e.from + ":" + e.to + ":" + (e.name || "");
    bytes[key] = e.bytes;
    const r = rateOf(key, e.bytes, live.time);
    const g = el("g", { class: "edge " + e.kind + " " + e.state, "data-kind": e.kind, "data-from": e.from, "data-to": e.to, "data-name": e.name || "", "data-state": e.state, "data-rate": Math.round(r) }, svg);
    el("path", { d: `M ${a.x} ${a.y} Q ${mx} ${my} ${b.x} ${b.y}` }, g);
    const lx = (a.x + 2 * mx + b.x) / 4, ly = (a.y + 2 * my + b.y) / 4;
    text(g, lx, ly - 4, e.label);
    text(g, lx, ly + 12, e.state + (e.state === "up" ? " · " + rate(r) : "") + (e.round_trip ? " · rtt " + e.round_trip : ""));
    el("title", {}, g).textContent = e.label + ": " + e.state;
    rows.push([e.label, e.from + " → " + e.to, e.state, e.state === "up" ? rate(r) : "", e.round_trip ? "rtt " + e.round_trip : ""]);
  });

  // Portal ends: outward from the middle, along the node's spoke, inlets
  // turned one way and outlets the other.
  const stack = {};
  live.ends.forEach((end) => {
    const p = pos[end.node];
    if (!p) return;
    const side = end.inlet ? -1 : 1;
    const k = stack[end.node + side] = (stack[end.node + side] || 0) + 1;
    let angle = n === 1 ? -Math.PI / 2 : Math.atan2((p.y - cy) * 2, p.x - cx);
    angle += side * (0.35 + 0.5 * (k - 1));
    const x = Math.min(Math.max(p.x + 230 * Math.cos(angle), 100), width - 100);
    const y = Math.min(Math.max(p.y + 100 * Math.sin(angle), 30), height - 30);
    const key = "end:" + end.id;
    bytes[key] = end.bytes;
    const r = rateOf(key, end.bytes, live.time);
    const g = el("g", { class: "end " + end.state, "data-end": end.id, "data-state": end.state, "data-streams": end.streams, "data-rate": Math.round(r) }, svg);
    el("line", { x1: x, y1: y, x2: p.x, y2: p.y, stroke: "#555" }, g);
    el("ellipse", { cx: x, cy: y, rx: 125, ry: 26 }, g);
    const [first, second] = end.label.split("\n");
    text(g, x, y - 3, first);
    text(g, x, y + 12, (second || "") + " · " + end.streams + " streams · " + rate(r));
    rows.push([first, end.node, end.state, rate(r), end.streams + " open streams"]);
  });

  // Nodes last, over the lines.
  live.nodes.forEach((node) => {
    const p = pos[node.name];
    const g = el("g", { class: "node" + (node.local ? "" : " remote"), "data-node": node.name }, svg);
    el("rect", { x: p.x - 75, y: p.y - 24, width: 150, height: 48, rx: 6 }, g);
    text(g, p.x, p.y - 4, node.name, "name");
    const more = (node.tcp_listeners || []).length;
    text(g, p.x, p.y + 14, (node.listener || (node.local ? "no listener" : "runs elsewhere")) + (more ? " +" + more : ""));
  });

  const tbody = document.querySelector("#parts tbody");
  tbody.replaceChildren();
  for (const row of rows) {
    const tr = document.createElement("tr");
    row.forEach((cell, i) => {
      const td = document.createElement("td");
      td.textContent = cell;
      if (i === 2) td.className = cell;
      tr.appendChild(td);
    });
    tbody.appendChild(tr);
  }
  previous = { time: live.time, bytes };
}

async function poll() {
  const status = document.getElementById("status");
  try {
    const resp = await fetch("api/graph", { cache: "no-store" });
    if (!resp.ok) throw new Error(resp.status + " " + resp.statusText);
    const live = await resp.json();
    draw(live);
    status.className = "";
    status.textContent = "live · updated " + new Date(live.time).toLocaleTimeString();
  } catch (err) {
    status.className = "error";
    status.textContent = "cannot reach the apply: " + err.message;
  }
  setTimeout(poll, POLL_MS);
}

poll();
