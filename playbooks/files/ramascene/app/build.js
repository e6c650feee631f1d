// Builds the bundle `main` into assets/bundles/main.js with its webpack-stats.json, where
// the real `./node_modules/.bin/webpack --config webpack.config.js` puts them
// (CMLPlatform/ramascene, webpack.config.js): node only, since npm cannot reach its
// registry offline.
const fs = require("fs");
const path = require("path");
const entry = path.join(__dirname, "assets/js/client/ramascene.js");
const out = path.join(__dirname, "assets/bundles");
fs.mkdirSync(out, { recursive: true });
const src = fs.readFileSync(entry, "utf8").replace(/^export /gm, "");
fs.writeFileSync(path.join(out, "main.js"), `// built by build.js\n(function () {\n${src}})();\n`);
const stats = { status: "done", publicPath: "/static/bundles/", chunks: { main: [{ name: "main.js", path: path.join(out, "main.js") }] } };
fs.writeFileSync(path.join(__dirname, "webpack-stats.json"), JSON.stringify(stats, null, 2) + "\n");
console.log(`wrote ${path.join(out, "main.js")}`);
