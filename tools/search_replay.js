#!/usr/bin/env node
// Offline replay of the site search, for tuning without a browser: runs the built site's own
// Material search worker (lunr) and docs/assets/javascripts/search.js (query rewrite, regrouping)
// in Node vm contexts, types each query of a set and scores it the way tests/test_search.py does
// (hit@1: the first question shown answers it; hit@5: one of the first five items does).
// The browser test (tests/test_search.py) stays the measure of record; this is for iteration.
//
//   node tools/search_replay.js SITE_DIR natural|keyword [zh|en ...] [--misses] [--js FILE]
//
// natural: data/search_natural.tsv (the tuned part only; never the held-out part).
// keyword: the quarter of data/search_queries.tsv that hooks/search.py keeps out of the index.
// --js FILE: a search.js to use instead of the site's copy (try query-side changes without a build).
"use strict";
const fs = require("fs");
const path = require("path");
const vm = require("vm");
const crypto = require("crypto");

const args = process.argv.slice(2);
const flag = (name) => { const i = args.indexOf(name); if (i < 0) return null; const v = args[i + 1]; args.splice(i, 2); return v; };
const jsOverride = flag("--js");
const showMisses = args.includes("--misses");
const debugQuery = flag("--debug");
const pos = args.filter((a) => !a.startsWith("--"));
const [site, set, ...langsArg] = pos;
if (!site || !["natural", "keyword"].includes(set)) {
  console.error("usage: node tools/search_replay.js SITE_DIR natural|keyword [zh|en ...] [--misses] [--js FILE]");
  process.exit(2);
}
let lastQuery = null;
const root = path.resolve(__dirname, "..");
const langs = langsArg.length ? langsArg : ["zh", "en"];

function readTsv(file) {
  const lines = fs.readFileSync(file, "utf8").split("\n").filter((l) => l.trim() && !l.startsWith("#"));
  const header = lines.shift().split("\t");
  return lines.map((l, n) => {
    const cells = l.replace(/\r$/, "").split("\t");
    return Object.fromEntries(header.map((h, i) => [h, cells[i] ?? ""]));
  });
}

function rows(lang) {
  if (set === "natural") {
    return readTsv(path.join(root, "data", "search_natural.tsv"))
      .filter((r) => r.lang === lang)
      .map((r) => ({ query: r.query, ids: new Set(r.question_ids.split("|").map((s) => s.trim()).filter(Boolean)) }))
      .filter((r) => !(r.ids.size === 1 && r.ids.has("none")));
  }
  const checkOnly = (q) => crypto.createHash("sha256").update(`${lang}\t${q.trim()}`, "utf8").digest()[0] % 4 === 0;
  return readTsv(path.join(root, "data", "search_queries.tsv"))
    .filter((r) => r.lang === lang && checkOnly(r.query))
    .map((r) => ({ query: r.query, ids: new Set([r.question_id]) }));
}

// The Material worker, with importScripts reading the site's lunr files.
function workerFor(index) {
  const js = path.join(site, "assets", "javascripts");
  const file = fs.readdirSync(path.join(js, "workers")).find((f) => /^search\..*\.min\.js$/.test(f));
  let listener = null, out = null;
  const ctx = { console: { warn() {}, log: console.log, error: console.error }, setTimeout, clearTimeout, Promise };
  ctx.self = ctx;
  ctx.addEventListener = (type, fn) => { if (type === "message") listener = fn; };
  ctx.postMessage = (m) => { out(m); };
  ctx.importScripts = (...urls) => {
    for (const u of urls) vm.runInContext(fs.readFileSync(path.join(js, "workers", u), "utf8"), ctx, { filename: u });
  };
  vm.createContext(ctx);
  vm.runInContext(fs.readFileSync(path.join(js, "workers", file), "utf8"), ctx, { filename: file });
  return (message) => new Promise((resolve) => { out = resolve; listener({ data: message }); });
}

// search.js in a page-like context; returns send(message) → the (regrouped) message the page gets.
function pageFor(lang, worker) {
  const vocab = JSON.parse(fs.readFileSync(path.join(site, "search", `vocab.${lang}.json`), "utf8"));
  class FakeWorker {
    constructor() { this.ls = []; }
    postMessage(m) { if (m.type === 2) lastQuery = m.data; if (m.raw) m = { type: 2, data: m.raw }; worker(m).then((r) => this.ls.forEach((l) => l({ data: r }))); }
    addEventListener(type, fn) { this.ls.push(fn); }
  }
  class XHR { open() {} send() {} }
  const scriptProto = {};
  Object.defineProperty(scriptProto, "src", { get() { return this._src; }, set(v) { this._src = v; }, configurable: true });
  class Element { setAttribute() {} }
  class HTMLScriptElement extends Element {}
  Object.defineProperty(HTMLScriptElement.prototype, "src", Object.getOwnPropertyDescriptor(scriptProto, "src"));
  class MessageEvent { constructor(type, init) { this.type = type; this.data = init.data; } }
  const ctx = {
    console, URL, Promise, setTimeout, Set, Map, Worker: FakeWorker, XMLHttpRequest: XHR, Element, HTMLScriptElement,
    MessageEvent, location: { protocol: "http:", search: "" },
    document: { documentElement: { lang }, currentScript: { src: "http://x/assets/javascripts/search.js" }, head: { appendChild() {} } },
    fetch: async () => ({ ok: true, json: async () => vocab }),
  };
  ctx.window = ctx;
  vm.createContext(ctx);
  const src = jsOverride || path.join(site, "assets", "javascripts", "search.js");
  vm.runInContext(fs.readFileSync(src, "utf8"), ctx, { filename: src });
  const w = new ctx.Worker();
  let pending = null;
  w.addEventListener("message", (ev) => { if (pending) pending(ev.data); });
  return (message) => new Promise((resolve) => { pending = resolve; w.postMessage(message); });
}

// Every question id: the H2 headings of the pages that carry a difficulty ("## … { #id data-difficulty=… }").
function questionIds() {
  const ids = new Set();
  const walk = (dir) => {
    for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
      const p = path.join(dir, e.name);
      if (e.isDirectory()) walk(p);
      else if (e.name.endsWith(".md"))
        for (const m of fs.readFileSync(p, "utf8").matchAll(/^## .*\{ *#([\w-]+)[^}]*data-difficulty/gm)) ids.add(m[1]);
    }
  };
  walk(path.join(root, "docs"));
  return ids;
}

async function main() {
  const summary = {};
  for (const lang of langs) {
    const index = JSON.parse(fs.readFileSync(path.join(site, "search", `search_index.${lang}.json`), "utf8"));
    // section → the question it belongs to (its own heading, or a sub-heading after it on the page)
    const ids = questionIds();
    const owner = new Map();
    let current = null;
    for (const d of index.docs) {
      const [page, frag] = d.location.split("#");
      if (frag && ids.has(frag)) current = [page, frag];
      if (frag && current && current[0] === page) owner.set(d.location, current[1]);
    }
    const send = pageFor(lang, workerFor(index));
    await send({ type: 0, data: { config: index.config, docs: index.docs, options: { suggest: true } } });
    if (debugQuery !== null) {
      const res = await send({ type: 2, data: debugQuery, raw: process.env.RAW });
      console.log("rewritten:", JSON.stringify(lastQuery));
      for (const [doc] of res.data.items.filter((g, i) => i < 8 || process.env.SHOW && g[0].location.includes(process.env.SHOW)))
        console.log(doc.score.toFixed(2), doc.location, JSON.stringify(doc.terms));
      continue;
    }
    let hit1 = 0, hit5 = 0, zero = 0;
    const misses = [];
    const qs = rows(lang);
    for (const r of qs) {
      const res = await send({ type: 2, data: r.query });
      const items = res.data.items;
      zero += !items.length;
      const shown = items.slice(0, 5).map((g) => g.map((d) => owner.get(d.location)).filter(Boolean));
      const first = shown.flat()[0];
      if (r.ids.has(first)) hit1++;
      if (shown.flat().some((q) => r.ids.has(q))) hit5++;
      else misses.push(`${r.query} -> ${[...r.ids].join("|")}; top: ${items.slice(0, 5).map((g) => g[0].location.split("#")[1] || g[0].location).join(" ")}`);
      if (showMisses && r.ids.has(first) === false && shown.flat().some((q) => r.ids.has(q)))
        misses.push(`  (@1 miss) ${r.query} -> ${[...r.ids].join("|")}; first: ${first}`);
    }
    const n = qs.length || 1;
    summary[lang] = { queries: qs.length, "hit@1": +(hit1 / n).toFixed(3), "hit@5": +(hit5 / n).toFixed(3), zero };
    console.log(`${set} ${lang}:`, JSON.stringify(summary[lang]));
    if (showMisses) misses.forEach((m) => console.log("   ", m));
  }
}
main().catch((e) => { console.error(e); process.exit(1); });
