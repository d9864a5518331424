import { StrictMode } from "react";
import { createRoot } from "react-dom/client";
import { Console } from "./Console";
import { loadConfig } from "./config";
import "./styles.css";

const root = createRoot(document.getElementById("root")!);
loadConfig().then(
  (config) =>
    root.render(
      <StrictMode>
        <Console config={config} />
      </StrictMode>,
    ),
  (error: unknown) =>
    root.render(
      <main className="page">
        <h1>Storecast console</h1>
        <p role="alert">The console's configuration could not be read: {String(error)}</p>
      </main>,
    ),
);
