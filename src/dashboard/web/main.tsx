/**
 * The dashboard's entry point: its styles (uPlot's first, so ours can adjust them) and the app.
 *
 * @module
 */

import "uplot/dist/uPlot.min.css";
import "./app.css";
import { render } from "preact";
import { App } from "./app.js";

const root = document.getElementById("app");
if (root !== null) render(<App />, root);
