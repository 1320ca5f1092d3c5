"use strict";
// The dashboard's pages, each drawn from the JSON API (tools/results/dashboard/dashboard.h):
// /runs (and /), /runs/ID, /compare?ids=A,B, /sweeps, /sweeps/ID. Sorting, filtering and paging
// happen in the server's SQL; this file lays out what comes back and draws it with uPlot.

const main = document.getElementById("main");
const palette = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f",
                 "#bcbd22", "#17becf"];  // tab10, as the results tool's figures
const livePollMs = 2000;

function el(tag, attributes = {}, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes)) {
    if (value !== undefined && value !== null && value !== false) node.setAttribute(name, value === true ? "" : value);
  }
  for (const child of children.flat()) {
    if (child !== null && child !== undefined) node.append(child instanceof Node ? child : String(child));
  }
  return node;
}

async function getJson(url) {
  const response = await fetch(url, {cache: "no-store"});
  const body = await response.json();
  if (!response.ok) throw new Error(body.error || response.statusText);
  return body;
}

function showError(error) {
  main.replaceChildren(el("h1", {}, "Not available"), el("p", {role: "alert", class: "error"}, error.message));
  document.body.dataset.state = "error";
}

// A stored value for people, as the CLI's tables write it.
function cell(column, value) {
  if (value === null || value === undefined) return "";
  if (typeof value !== "number") return String(value);
  if (/accuracy|fraction/.test(column)) return (100 * value).toFixed(2) + "%";
  if (/loss/.test(column)) return value.toFixed(4);
  if (/seconds|per_second/.test(column)) return value.toFixed(1);
  return Number.isInteger(value) ? String(value) : String(Number(value.toPrecision(6)));
}

// A table of API rows. options: caption, columns, link (column -> href of a row), sortLink
// (column -> href of its header), rowClass, select (a checkbox per row, named by run_id).
function table(rows, options = {}) {
  const columns = options.columns || (rows.length ? Object.keys(rows[0]) : []);
  const head = el("tr", {}, options.select ? el("th", {scope: "col"}, el("span", {class: "skip"}, "select")) : null,
                  columns.map((c) => el("th", {scope: "col"}, options.sortLink ? el("a", {href: options.sortLink(c)}, c) : c)));
  const body = rows.map((row) => el("tr", {class: options.rowClass ? options.rowClass(row) : null,
                                           "data-run-id": row.run_id},
    options.select ? el("td", {}, el("input", {type: "checkbox", name: "run", value: row.run_id,
                                               "aria-label": "select run " + row.run_id})) : null,
    columns.map((c) => {
      const text = cell(c, row[c]);
      const href = options.link && options.link(c, row);
      return el("td", {class: typeof row[c] === "number" ? "number" : null}, href ? el("a", {href}, text) : text);
    })));
  return el("div", {class: "scroll"}, el("table", {}, options.caption ? el("caption", {}, options.caption) : null,
                                         el("thead", {}, head), el("tbody", {}, body)));
}

// One uPlot chart in a figure: x and several y series (null where a series has no value).
function chart(title, xLabel, yLabel, x, series, options = {}) {
  const figure = el("figure", {role: "group", "aria-label": title, class: "chart"});
  const width = options.width || 520;
  const plot = new uPlot({
    title, width, height: options.height || 280,
    scales: {x: {time: false, distr: options.logX ? 3 : 1}, y: options.percent ? {range: [0, 1]} : {}},
    axes: [{label: xLabel, values: options.logX ? (u, ticks) => ticks.map((t) => String(Number(t.toPrecision(3)))) : undefined},
           {label: yLabel, values: options.percent ? (u, ticks) => ticks.map((t) => (100 * t).toFixed(0) + "%")
                                                   : (u, ticks) => ticks.map((t) => String(Number(t.toPrecision(3))))}],
    series: [{label: xLabel}, ...series.map((s, i) => ({
      label: s.label, stroke: s.color || palette[i % palette.length], dash: s.dashed ? [6, 4] : undefined,
      width: 1.5, spanGaps: true, paths: s.points ? () => null : undefined,
      points: s.points ? {show: true, size: 7, fill: s.color || palette[i % palette.length]} : {show: x.length < 60},
    }))],
  }, [x, ...series.map((s) => s.values)], figure);
  figure.append(el("figcaption", {}, options.caption || title + ": " + yLabel + " against " + xLabel));
  figure.dataset.points = String(x.length);
  figure.plot = plot;
  return figure;
}

// A figure the server draws (SVG); marks itself loaded, so a test sees the browser rendered it.
function image(src, alt) {
  const img = el("img", {src, alt});
  img.addEventListener("load", () => { img.dataset.loaded = "true"; });
  img.addEventListener("error", () => { img.dataset.loaded = "false"; });
  return img;
}

function column(rows, name) { return rows.map((r) => (r[name] === undefined ? null : r[name])); }
function hasValues(rows, name) { return rows.some((r) => r[name] !== null && r[name] !== undefined); }

// ---- runs ---------------------------------------------------------------------------------

const runFilters = ["status", "sweep", "experiment", "since", "until"];

function runsForm(query, metrics) {
  const input = (name, label, attributes = {}) =>
    el("label", {}, label, el("input", {name, value: query.get(name) || "", ...attributes}));
  const status = el("select", {name: "status"}, ["", "running", "finished", "pruned", "failed", "interrupted"].map(
    (s) => el("option", {value: s, selected: (query.get("status") || "") === s}, s || "any")));
  const wheres = query.getAll("where");
  return el("form", {class: "filters", method: "get", action: "/runs", "aria-label": "Filter and sort runs"},
    el("label", {}, "status", status), input("sweep", "sweep (id or name)"), input("experiment", "experiment"),
    input("where", "where (e.g. optimizer.lr<0.001)", {value: wheres[0] || ""}),
    input("where", "and where", {value: wheres[1] || ""}),
    input("since", "started since", {placeholder: "2026-12-01"}),
    input("sort", "sort by", {list: "metrics", placeholder: "run_id"}),
    el("datalist", {id: "metrics"}, metrics.map((m) => el("option", {value: m}))),
    el("label", {}, "order", el("select", {name: "order"}, ["desc", "asc"].map(
      (o) => el("option", {value: o, selected: (query.get("order") || "desc") === o}, o)))),
    input("show", "config columns (comma-separated)", {placeholder: "optimizer.lr,train.batch_size"}),
    input("limit", "per page", {type: "number", min: 1, max: 1000, placeholder: "50"}),
    el("button", {type: "submit"}, "Apply"));
}

async function runsPage() {
  const query = new URLSearchParams(location.search);
  const [rows, metrics] = await Promise.all([getJson("/api/runs" + location.search), getJson("/api/metrics")]);
  const limit = Number(query.get("limit") || 50), offset = Number(query.get("offset") || 0);
  const pageLink = (newOffset) => {
    const q = new URLSearchParams(query);
    q.set("offset", String(Math.max(0, newOffset)));
    return "/runs?" + q.toString();
  };
  const sortLink = (c) => {
    const q = new URLSearchParams(query);
    q.delete("offset");
    q.set("order", q.get("sort") === c && q.get("order") !== "asc" ? "asc" : "desc");
    q.set("sort", c);
    return "/runs?" + q.toString();
  };
  const compare = el("button", {type: "button"}, "Compare selected runs");
  compare.addEventListener("click", () => {
    const ids = [...main.querySelectorAll("input[name=run]:checked")].map((c) => c.value);
    if (ids.length >= 2) location.href = "/compare?ids=" + ids.join(",");
  });
  main.replaceChildren(
    el("h1", {}, "Runs"), runsForm(query, metrics),
    table(rows, {caption: rows.length ? `Runs ${offset + 1} to ${offset + rows.length}` : "No run matches",
                 sortLink, select: true, rowClass: (r) => r.status,
                 link: (c, r) => (c === "run_id" ? "/runs/" + r.run_id : c === "sweep_id" && r.sweep_id ? "/sweeps/" + r.sweep_id : null)}),
    el("p", {class: "pager"}, offset > 0 ? el("a", {href: pageLink(offset - limit), rel: "prev"}, "Previous page") : null,
       rows.length === limit ? el("a", {href: pageLink(offset + limit), rel: "next"}, "Next page") : null, compare));
  document.body.dataset.rows = String(rows.length);
  if (rows.some((r) => r.status === "running")) setTimeout(() => runsPage().catch(showError), 5 * livePollMs);
}

// ---- one run --------------------------------------------------------------------------------

function runCharts(epochs) {
  const x = column(epochs, "epoch");
  const splits = ["train", "val", "test"].filter((s) => hasValues(epochs, s + "_loss"));
  const lines = (metric) => splits.map((s, i) => ({label: s + " " + metric, values: column(epochs, s + "_" + metric),
                                                   color: palette[i], dashed: s === "train"}));
  const charts = [chart("Loss", "epoch", "loss", x, lines("loss")),
                  chart("Accuracy", "epoch", "accuracy", x, lines("accuracy"), {percent: true})];
  if (hasValues(epochs, "learning_rate")) {
    charts.push(chart("Learning rate", "epoch", "learning rate", x, [{label: "learning rate", values: column(epochs, "learning_rate")}]));
  }
  return charts;
}

async function runPage(id) {
  const details = await getJson("/api/runs/" + id);
  const run = details.run;
  const charts = el("section", {class: "charts", "aria-label": "Curves", "data-epochs": String(details.epochs.length)}, runCharts(details.epochs));
  const provenance = Object.entries(run).filter(([, v]) => v !== null && v !== "").map(([k, v]) => ({field: k, value: cell(k, v)}));
  const config = Object.entries(details.config).map(([key, value]) => ({key, value}));
  const epochsTable = table(details.epochs, {caption: "Epochs"});
  main.replaceChildren(
    el("h1", {}, `Run ${run.id}: ${run.experiment} (${run.status})`),
    run.sweep_id ? el("p", {}, el("a", {href: "/sweeps/" + run.sweep_id}, "Sweep " + (run.sweep || run.sweep_id)), " trial ", run.trial_key || "") : null,
    charts, epochsTable,
    details.evaluations.length ? table(details.evaluations, {caption: "Evaluations"}) : null,
    details.evaluations.length ? await evaluationSection(details.evaluations[details.evaluations.length - 1]) : null,
    table(provenance, {caption: "Provenance and outcome"}), table(config, {caption: "Resolved configuration"}));
  charts.dataset.drawMs = String(Math.round(performance.now()));  // since navigation start
  document.body.dataset.state = "drawn";
  if (run.status === "running") pollRun(id, charts, epochsTable);
}

// The newest evaluation: its per-class figures and its confusion matrix, drawn by the results
// tool's own plotting code (SVG).
async function evaluationSection(evaluation) {
  const id = evaluation.evaluation;
  const classes = await getJson("/api/evaluations/" + id);
  const rows = classes.map((c) => ({class: c.class_name, precision: c.precision, recall: c.recall, f1: c.f1,
                                    support: c.support}));
  const title = `Confusion matrix of evaluation ${id} (${evaluation.data}, epoch ${evaluation.checkpoint_epoch})`;
  return el("section", {"aria-label": "Evaluation " + id},
    el("h2", {}, "Evaluation " + id),
    table(rows, {caption: "Per class: precision and recall are fractions of the images predicted as, and of, the class"}),
    el("figure", {class: "confusion"}, image(`/api/evaluations/${id}/confusion.svg`, title + ": " +
      classes.map((c) => c.class_name + " predicted as " + c.predicted).join("; ")), el("figcaption", {}, title)));
}

// A running run: its curves and epoch table grow as epochs are committed.
function pollRun(id, charts, epochsTable) {
  setTimeout(async () => {
    try {
      const [details, epochs] = [await getJson("/api/runs/" + id), await getJson("/api/runs/" + id + "/epochs")];
      if (epochs.length !== Number(charts.dataset.epochs)) {
        charts.replaceChildren(...runCharts(epochs));
        charts.dataset.epochs = String(epochs.length);
        epochsTable.replaceWith(epochsTable = table(epochs, {caption: "Epochs"}));
      }
      if (details.run.status === "running") pollRun(id, charts, epochsTable);
      else runPage(id);
    } catch (error) { showError(error); }
  }, livePollMs);
}

// ---- compare --------------------------------------------------------------------------------

async function comparePage() {
  const ids = (new URLSearchParams(location.search).get("ids") || "").split(",").filter(Boolean);
  const differences = await getJson("/api/compare?ids=" + ids.join(","));
  const epochs = await Promise.all(ids.map((id) => getJson("/api/runs/" + id + "/epochs")));
  const joined = uPlot.join(epochs.map((rows) => [column(rows, "epoch"), column(rows, "test_accuracy"), column(rows, "test_loss")]));
  const x = joined[0];
  const accuracy = ids.map((id, i) => ({label: "run " + id, values: joined[1 + 2 * i]}));
  const loss = ids.map((id, i) => ({label: "run " + id, values: joined[2 + 2 * i]}));
  main.replaceChildren(el("h1", {}, "Compare runs " + ids.join(", ")),
    el("section", {class: "charts", "aria-label": "Curves"},
       chart("Test accuracy", "epoch", "test accuracy", x, accuracy, {percent: true}),
       chart("Test loss", "epoch", "test loss", x, loss)),
    table(differences, {caption: "Config keys that differ, then metrics"}));
  document.body.dataset.state = "drawn";
}

// ---- sweeps ---------------------------------------------------------------------------------

async function sweepsPage() {
  const sweeps = await getJson("/api/sweeps");
  main.replaceChildren(el("h1", {}, "Sweeps"), table(sweeps, {caption: sweeps.length + " sweeps",
    link: (c, r) => (c === "sweep_id" || c === "sweep" ? "/sweeps/" + r.sweep_id : c === "best_run" && r.best_run ? "/runs/" + r.best_run : null)}));
  document.body.dataset.rows = String(sweeps.length);
}

// "optimizer.lr=0.001 train.batch_size=32" -> {optimizer.lr: "0.001", ...}
function trialParameters(key) {
  const out = {};
  for (const part of (key || "").split(" ").filter(Boolean)) {
    const at = part.indexOf("=");
    if (at > 0) out[part.slice(0, at)] = part.slice(at + 1);
  }
  return out;
}

// The sweep's metric against one swept key: finished and pruned trials as two point series.
function parameterChart(trials, key) {
  const values = trials.map((t) => trialParameters(t.trial_key)[key]);
  const numeric = values.every((v) => v !== undefined && v !== "" && !isNaN(Number(v)));
  const categories = numeric ? [] : [...new Set(values)];
  const points = trials.map((t, i) => ({x: numeric ? Number(values[i]) : categories.indexOf(values[i]), t}))
    .sort((a, b) => a.x - b.x);
  const xs = points.map((p) => p.x);
  const logX = numeric && xs[0] > 0 && xs[xs.length - 1] / xs[0] >= 10;
  const of = (pruned) => points.map((p) => ((p.t.status === "pruned") === pruned ? p.t.best_selection_accuracy : null));
  return chart(key, key + (numeric ? "" : " (" + categories.join(", ") + ")"), "best selection accuracy", xs,
               [{label: "finished", values: of(false), points: true}, {label: "pruned", values: of(true), points: true, color: "#9e9e9e"}],
               {percent: true, logX, caption: "Each trial's best selection accuracy against " + key + "; pruned trials in grey"});
}

async function sweepPage(sweep) {
  const [trials, history] = await Promise.all([
    getJson("/api/runs?limit=1000&sort=best_selection_accuracy&sweep=" + encodeURIComponent(sweep)),
    getJson("/api/sweeps/" + encodeURIComponent(sweep) + "/history")]);
  const keys = [...new Set(trials.flatMap((t) => Object.keys(trialParameters(t.trial_key))))];
  let best = null;
  const order = history.map((_, i) => i + 1);
  const bestSoFar = history.map((h) => (best = h.selection_accuracy !== null && (best === null || h.selection_accuracy > best) ? h.selection_accuracy : best));
  main.replaceChildren(el("h1", {}, "Sweep " + sweep),
    el("section", {class: "charts", "aria-label": "Metric against each swept key"}, keys.map((k) => parameterChart(trials, k)),
       chart("Best so far", "epochs trained, in order", "selection accuracy", order,
             [{label: "epoch", values: column(history, "selection_accuracy"), points: true, color: "#90a4ae"},
              {label: "best so far", values: bestSoFar}], {percent: true})),
    el("figure", {class: "parallel"},
       image("/api/sweeps/" + encodeURIComponent(sweep) + "/parallel.svg",
             "Parallel coordinates: each trial's swept values and best selection accuracy; the leaderboard below holds the same figures"),
       el("figcaption", {}, "Parallel coordinates: one axis per swept key and one for the best selection accuracy, a line per trial (the best orange, pruned grey)")),
    table(trials, {caption: "Leaderboard", rowClass: (r) => r.status,
                   link: (c, r) => (c === "run_id" ? "/runs/" + r.run_id : null)}));
  document.body.dataset.rows = String(trials.length);
  document.body.dataset.state = "drawn";
}

// ---- routing --------------------------------------------------------------------------------

function route() {
  const path = location.pathname.replace(/\/$/, "") || "/runs";
  let m;
  if (path === "/runs") return runsPage();
  if ((m = path.match(/^\/runs\/(\d+)$/))) return runPage(m[1]);
  if (path === "/compare") return comparePage();
  if (path === "/sweeps") return sweepsPage();
  if ((m = path.match(/^\/sweeps\/([^/]+)$/))) return sweepPage(decodeURIComponent(m[1]));
  return Promise.reject(new Error("no page " + path));
}

route().catch(showError);
