// Builds every entry of builds.json from src/footfall.js with terser, deterministically, into
// the Python package (so `pip install footfall` serves it without Node).
//   node build.mjs          write the builds and print their sizes
//   node build.mjs --check  fail if a committed build differs from a fresh one, or is over budget
import { readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { gzipSync } from 'node:zlib';
import { minify } from 'terser';

const here = dirname(fileURLToPath(import.meta.url));
const config = JSON.parse(readFileSync(join(here, 'builds.json'), 'utf8'));
const source = readFileSync(join(here, 'src', 'footfall.js'), 'utf8');

export async function build(features) {
  const result = await minify(source, {
    ecma: 2020,
    compress: { global_defs: features, passes: 3, unsafe_arrows: true },
    mangle: { toplevel: true },
    format: { comments: false },
  });
  return result.code + '\n';
}

export const gzipSize = (text) => gzipSync(Buffer.from(text), { level: 9 }).length;

const check = process.argv.includes('--check');
let failed = 0;
for (const { file, features, budget } of config.builds) {
  const code = await build(features);
  const path = join(here, config.out, file);
  const size = gzipSize(code);
  if (check) {
    let committed = '';
    try {
      committed = readFileSync(path, 'utf8');
    } catch {}
    if (committed !== code) {
      console.error(`${file}: the committed build differs from src/; run: npm run build`);
      failed = 1;
    }
  } else {
    writeFileSync(path, code);
  }
  const over = size > budget;
  if (over) failed = 1;
  console.log(`${file}: ${Buffer.byteLength(code)} bytes minified, ${size} gzipped (budget ${budget})${over ? ' OVER BUDGET' : ''}`);
}
process.exit(failed);
