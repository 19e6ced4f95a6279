// Reference GPT-2 token ids from npm gpt-3-encoder@1.1.4's own JavaScript encoder (run with
// node): node gpt2_encode.js PACKAGE_DIR OUT.json FILE...  ->  {"FILE": [ids...], ...}
// (an argument @LIST names a file that lists the input files, one per line).
// Files are read as UTF-8 with replacement (each ill-formed subsequence -> U+FFFD), as ark does.
//
// The package's encode() concatenates arrays token by token (quadratic in the text length), so
// a whole book is encoded in chunks, cut only where that cannot change the tokens: before a
// '\n' whose preceding character is not whitespace. No pattern match spans such a point (the
// character before it ends every match that contains it, and whitespace runs start after it),
// and the lookahead of '\s+(?!\S)' never sees across it, so the concatenated ids equal those of
// one encode() call.
'use strict';
const fs = require('fs'), path = require('path');
const [pkg, out, ...args] = process.argv.slice(2);
const files = args.flatMap(a => a.startsWith('@') ? fs.readFileSync(a.slice(1), 'utf8').split('\n').filter(Boolean) : [a]);
const { encode } = require(path.resolve(pkg, 'Encoder.js'));

function encodeLong(text) {
  const ids = [];
  let start = 0;
  for (let p = 1; p <= text.length; ++p) {
    const cut = p === text.length || (text[p] === '\n' && !/\s/u.test(text[p - 1]) && p - start >= 2000);
    if (!cut) continue;
    for (const id of encode(text.slice(start, p))) ids.push(id);
    start = p;
  }
  return ids;
}

const result = {};
for (const f of files) result[f] = encodeLong(fs.readFileSync(f, 'utf8'));
fs.writeFileSync(out + '.tmp', JSON.stringify(result));
fs.renameSync(out + '.tmp', out);
