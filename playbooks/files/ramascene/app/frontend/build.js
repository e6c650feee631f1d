// Bundles frontend/src into frontend/dist/bundle.js (the stand-in for
// `./node_modules/.bin/webpack --config webpack.config.js`): node only, no npm.
const fs = require("fs");
const path = require("path");
const src = path.join(__dirname, "src");
const dist = path.join(__dirname, "dist");
fs.mkdirSync(dist, { recursive: true });
const parts = fs.readdirSync(src).sort().map((f) => `// ${f}\n` + fs.readFileSync(path.join(src, f), "utf8").replace(/^export /gm, ""));
fs.writeFileSync(path.join(dist, "bundle.js"), `// built by frontend/build.js\n(function () {\n${parts.join("\n")}})();\n`);
console.log(`wrote ${path.join(dist, "bundle.js")}`);
