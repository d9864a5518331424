import { createContext, useContext } from "react";
import type { ApiClient } from "./api/client";
import type { Session } from "./auth/session";
import type { ConsoleConfig } from "./config";

export interface AppContext {
  config: ConsoleConfig;
  session: Session;
  api: ApiClient;
}

export const App = createContext<AppContext | null>(null);

export function useApp(): AppContext {
  const context = useContext(App);
  if (!context) throw new Error("useApp outside the signed-in app");
  return context;
}
