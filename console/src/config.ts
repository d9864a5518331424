// Where the console runs: read at start from config.json beside index.html, so one build serves
// the local stack (written by `storecast-dev serve-api`) and AWS (written by the deploy script).
export type SignInConfig =
  | { kind: "local"; path: string }
  | {
      kind: "cognito";
      /** The hosted UI's domain, `https://<prefix>.auth.<region>.amazoncognito.com`. */
      domain: string;
      client_id: string;
      redirect_uri: string;
    };

export interface ConsoleConfig {
  /** The API's origin; empty when it is the console's own. */
  api_base: string;
  sign_in: SignInConfig;
  /** The exports bucket campaigns read their audience from. */
  exports_bucket: string;
}

export async function loadConfig(): Promise<ConsoleConfig> {
  const response = await fetch(`${import.meta.env.BASE_URL}config.json`, { cache: "no-store" });
  if (!response.ok) throw new Error(`config.json: HTTP ${response.status}`);
  return (await response.json()) as ConsoleConfig;
}
