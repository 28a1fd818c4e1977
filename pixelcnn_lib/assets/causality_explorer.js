// The causality explorer of chapter 3 (pixelcnn_lib/causality_explorer.py writes the page around it).
// `root` is the explorer's element; its data (JSON) holds the fields as greyscale PNGs, decoded here through a
// canvas: code 0 is an exactly zero gradient, 1 .. levels a log scale up to the target's largest gradient, and
// data.blindCode a zero gradient at a pixel that the deepest stack of the same block and kernel misses too.
"use strict";
const data = JSON.parse(root.querySelector('script[data-role="data"]').textContent);
const find = (role) => root.querySelector(`[data-role="${role}"]`);
const controls = { model: find("model"), block: find("block"), kernel: find("kernel"), depth: find("depth") };
const canvases = { field: find("field"), theory: find("theory") };
const parts = { stacks: data.stacks, trained: data.trained };
const start = data.start;
const view = {
  model: "stacks", mode: start.mode, block: start.block, kernel: start.kernel, depth: start.depth,
  target: { stacks: start.target, trained: null }, pointer: null,
};
const patterns = document.createElement("img");
patterns.className = "cx-patterns";
patterns.alt = "the footprint of every layer";

function rgb(colour) {
  return `rgb(${colour[0]}, ${colour[1]}, ${colour[2]})`;
}

function ordinal(n) {
  return n === 2 ? "2nd" : n === 3 ? "3rd" : `${n}th`;
}

function decode(part) {  // the PNG -> part.codes (one byte per pixel) and part.width
  return new Promise((resolve, reject) => {
    const image = new Image();
    image.onload = () => {
      const canvas = document.createElement("canvas");
      canvas.width = image.naturalWidth;
      canvas.height = image.naturalHeight;
      const context = canvas.getContext("2d", { willReadFrequently: true });
      context.drawImage(image, 0, 0);
      const rgba = context.getImageData(0, 0, canvas.width, canvas.height).data;
      part.codes = new Uint8Array(canvas.width * canvas.height);
      for (let i = 0; i < part.codes.length; i += 1) part.codes[i] = rgba[4 * i];
      part.width = canvas.width;
      resolve();
    };
    image.onerror = () => reject(new Error("its field data did not decode"));
    image.src = part.fields;
  });
}

function clamp(value, low, high) {
  return Math.min(Math.max(value, low), high);
}

function snap(part, row, col) {  // the computed target nearest to (row, col)
  const tile = (v) => clamp(Math.round((v - part.first) / part.step), 0, part.grid[0] - 1);
  return [part.first + tile(row) * part.step, part.first + tile(col) * part.step];
}

function stackIndex() {
  return view.model === "stacks" ? data.stacks.index[`${view.block}/${view.kernel}/${view.depth}`] : 0;
}

function rawCode(part, k, target, row, col) {  // the fields are tiles of a mosaic, one per target, in raster order
  const n = part.size;
  const ti = (target[0] - part.first) / part.step;
  const tj = (target[1] - part.first) / part.step;
  return part.codes[((k * part.grid[0] + ti) * n + row) * part.width + tj * n + col];
}

function code(part, k, target, row, col) {  // the gradient's code: 0 in the blind spot too
  const value = rawCode(part, k, target, row, col);
  return value === data.blindCode ? 0 : value;
}

function blind(part, k, target, row, col) {
  return rawCode(part, k, target, row, col) === data.blindCode;
}

function log10Of(value) {  // a non-zero code -> log10 of the magnitude relative to the target's largest
  return data.decades * ((value - 1) / (data.levels - 1) - 1);
}

function colourAt(part, k, target, row, col) {
  const here = target[0] * part.size + target[1];
  const position = row * part.size + col;
  if (position === here) return data.colours.target;
  const value = code(part, k, target, row, col);
  if (position > here) return value > 0 ? data.colours.leak : data.colours.later;
  if (blind(part, k, target, row, col)) return data.colours.blind;
  if (value === 0) return data.colours.missed;
  return view.mode === "magnitude" ? data.palette[value - 1] : data.colours.seen;
}

function theoryAt(part, target, row, col) {  // PixelSNAIL in theory: every earlier pixel
  const here = target[0] * part.size + target[1];
  const position = row * part.size + col;
  return position === here ? data.colours.target : position < here ? data.colours.seen : data.colours.later;
}

function paint(canvas, part, colour) {
  const n = part.size;
  const cell = part.cell;
  const side = n * cell + 1;
  if (canvas.width !== side) {
    canvas.width = side;
    canvas.height = side;
  }
  const context = canvas.getContext("2d");
  context.fillStyle = "#fff";  // the grid lines
  context.fillRect(0, 0, side, side);
  for (let row = 0; row < n; row += 1) {
    for (let col = 0; col < n; col += 1) {
      context.fillStyle = rgb(colour(row, col));
      context.fillRect(col * cell + 1, row * cell + 1, cell - 1, cell - 1);
    }
  }
}

function counts(part, k, target) {
  const here = target[0] * part.size + target[1];
  let seen = 0;
  let leaks = 0;
  let blinds = 0;
  for (let position = 0; position < part.size * part.size; position += 1) {
    const [row, col] = [Math.floor(position / part.size), position % part.size];
    const value = code(part, k, target, row, col);
    if (value > 0 && position < here) seen += 1;
    if (value > 0 && position >= here) leaks += 1;
    if (blind(part, k, target, row, col)) blinds += 1;
  }
  return { seen, earlier: here, leaks, blinds };
}

function describe(part, k, target, row, col) {
  const here = target[0] * part.size + target[1];
  const position = row * part.size + col;
  const value = code(part, k, target, row, col);
  const name = `pixel (${row}, ${col})`;
  if (position === here) return `${name}: the target`;
  if (position > here) return value > 0 ? `${name}: a later pixel it sees (a leak)` : `${name}: a later pixel`;
  if (blind(part, k, target, row, col)) {
    return `${name}: zero gradient, in the blind spot (not seen at depth ${data.stacks.depths.at(-1)} either)`;
  }
  if (value === 0) return `${name}: zero gradient, not seen`;
  if (value === 1) return `${name}: gradient at most 10<sup>-${data.decades}</sup> of the target's largest`;
  return `${name}: gradient about 10<sup>${log10Of(value).toFixed(1)}</sup> of the target's largest`;
}

function render() {
  const part = parts[view.model];
  if (!part.codes) return;
  const trained = view.model === "trained";
  const k = stackIndex();
  const target = view.target[view.model];
  paint(canvases.field, part, (row, col) => colourAt(part, k, target, row, col));
  find("theory-panel").hidden = !trained;
  if (trained) paint(canvases.theory, part, (row, col) => theoryAt(part, target, row, col));

  const { seen, earlier, leaks, blinds } = counts(part, k, target);
  let caption = `target (${target[0]}, ${target[1]}): sees ${seen} of ${earlier} earlier pixels`;
  if (blinds) caption += `, and ${blinds} of the others are in the blind spot`;
  if (leaks) caption += `; LEAK: sees ${leaks} later pixels`;
  if (trained) {
    caption += ` (in theory all ${earlier}). Fields are computed at every ${ordinal(part.step)} row and column: `
      + "a click picks the nearest of those targets.";
  }
  find("caption").textContent = caption;
  find("panel-title").textContent = trained
    ? `effective field: the shipped PixelSNAIL, averaged over ${part.images} held-out images`
    : "by gradient through the stack";
  find("readout").innerHTML = view.pointer
    ? describe(part, k, target, view.pointer[0], view.pointer[1])
    : "<small>Click a pixel to make it the target (arrow keys move it); point at a pixel for its gradient.</small>";

  for (const name of ["block", "kernel", "depth"]) controls[name].disabled = trained;
  if (view.block === "attention") controls.kernel.disabled = true;
  find("depth-value").textContent = trained ? "" : String(view.depth);
  for (const button of root.querySelectorAll('[data-role="mode"]')) {
    button.setAttribute("aria-pressed", String(button.dataset.mode === view.mode));
  }
  find("legend-seen").hidden = view.mode !== "seen" && !trained;  // the theoretical panel uses it too
  find("legend-magnitude").hidden = view.mode !== "magnitude";
  find("legend-leak").hidden = leaks === 0;
  find("legend-blind").hidden = trained;
  patterns.src = trained ? part.patterns : part.patterns[k];
  if (!patterns.isConnected) find("patterns").appendChild(patterns);  // only once it has a picture
  find("patterns-title").textContent = trained
    ? "The shipped PixelSNAIL's layers (blue: the pixels a layer reads, red outline: the pixel it writes):"
    : "Each layer's footprint (blue: the pixels a layer reads, red outline: the pixel it writes):";
  find("note").textContent = trained
    ? "The gradient of all of the target's outputs with respect to the input, summed over colour channels. "
      + "Theory says which pixels can matter; the gradient says how much each one does."
    : "Depth counts the layers (blocks for the shifted and attention stacks) after the input layer. "
      + "PixelSNAIL's convolutions are fixed at 2x2, so the kernel size does not change it.";
}

function cellAt(canvas, event) {
  const part = parts[view.model];
  const box = canvas.getBoundingClientRect();
  const x = ((event.clientX - box.left) * canvas.width) / box.width;
  const y = ((event.clientY - box.top) * canvas.height) / box.height;
  const cell = (v) => clamp(Math.floor((v - 1) / part.cell), 0, part.size - 1);
  return [cell(y), cell(x)];
}

function pick(row, col) {
  const part = parts[view.model];
  view.target[view.model] = view.model === "trained" ? snap(part, row, col) : [row, col];
  render();
}

for (const canvas of [canvases.field, canvases.theory]) {
  canvas.addEventListener("click", (event) => pick(...cellAt(canvas, event)));
  canvas.addEventListener("mousemove", (event) => {
    view.pointer = cellAt(canvas, event);
    render();
  });
  canvas.addEventListener("mouseleave", () => {
    view.pointer = null;
    render();
  });
}
canvases.field.addEventListener("keydown", (event) => {
  const moves = { ArrowUp: [-1, 0], ArrowDown: [1, 0], ArrowLeft: [0, -1], ArrowRight: [0, 1] };
  if (!(event.key in moves)) return;
  event.preventDefault();
  const part = parts[view.model];
  const target = view.target[view.model];
  const step = view.model === "trained" ? part.step : 1;
  const [dy, dx] = moves[event.key];
  pick(clamp(target[0] + dy * step, 0, part.size - 1), clamp(target[1] + dx * step, 0, part.size - 1));
});
if (controls.model) {
  controls.model.addEventListener("change", () => {
    view.model = controls.model.value;
    view.pointer = null;
    render();
  });
}
controls.block.addEventListener("change", () => {
  view.block = controls.block.value;
  render();
});
controls.kernel.addEventListener("change", () => {
  view.kernel = Number(controls.kernel.value);
  render();
});
controls.depth.addEventListener("input", () => {
  view.depth = data.stacks.depths[Number(controls.depth.value)];
  render();
});
for (const button of root.querySelectorAll('[data-role="mode"]')) {
  button.addEventListener("click", () => {
    view.mode = button.dataset.mode;
    render();
  });
}

controls.block.value = view.block;
controls.kernel.value = String(view.kernel);
controls.depth.value = String(data.stacks.depths.indexOf(view.depth));
if (controls.model) controls.model.value = "stacks";
const decoding = [decode(parts.stacks)];
if (parts.trained) {
  const middle = Math.floor(parts.trained.size / 2);
  view.target.trained = snap(parts.trained, middle, middle);
  decoding.push(decode(parts.trained));
}
Promise.all(decoding).then(render, (error) => {
  find("caption").textContent = `The explorer could not start: ${error.message}.`;
});
