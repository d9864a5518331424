import { lazy, Suspense, useEffect, useMemo, useState } from "react";
import { ApiClient } from "./api/client";
import { signOutUrl } from "./auth/cognito";
import { clearSession, loadSession, type Session } from "./auth/session";
import type { ConsoleConfig } from "./config";
import { App } from "./context";
import { href, navigate, segments, useRoute } from "./router";
import { SignIn } from "./pages/SignIn";
import { Campaigns } from "./pages/Campaigns";
import { CampaignNew } from "./pages/CampaignNew";
import { CampaignPage } from "./pages/CampaignPage";
import { Suppressions } from "./pages/Suppressions";
import { Deliverability } from "./pages/Deliverability";
import { Audiences } from "./pages/Audiences";
import { Retailers } from "./pages/Retailers";
import { SeedList } from "./pages/SeedList";

// The template editor carries CodeMirror: loaded when first opened, not on the first page.
const Templates = lazy(() => import("./pages/Templates"));
// So does the snippet editor (CodeMirror's Liquid mode).
const Snippets = lazy(() => import("./pages/Snippets"));

export function Console({ config }: { config: ConsoleConfig }) {
  const [session, setSession] = useState<Session | null>(() => loadSession());
  const path = useRoute();
  const api = useMemo(
    () =>
      new ApiClient(
        config.api_base,
        () => session?.token ?? null,
        undefined,
        () => {
          clearSession();
          setSession(null);
        },
      ),
    [config, session],
  );
  if (!session) {
    return (
      <SignIn
        config={config}
        onSignedIn={(signedIn) => {
          setSession(signedIn);
          navigate(homeOf(signedIn));
        }}
      />
    );
  }
  const signOut = () => {
    clearSession();
    setSession(null);
    navigate("/");
    // The hosted UI keeps a session of its own: end it too, or "Sign in" would come straight back.
    if (config.sign_in.kind === "cognito") window.location.assign(signOutUrl(config.sign_in));
  };
  return (
    <App.Provider value={{ config, session, api }}>
      <Shell session={session} path={path} onSignOut={signOut}>
        <Suspense fallback={<p aria-live="polite">Loading…</p>}>
          <Page path={path} session={session} />
        </Suspense>
      </Shell>
    </App.Provider>
  );
}

function homeOf(session: Session): string {
  return session.role === "operator" || !session.tenant ? "/retailers" : `/t/${session.tenant}/campaigns`;
}

function Page({ path, session }: { path: string; session: Session }) {
  const parts = segments(path);
  if (parts[0] === "retailers") return <Retailers selected={parts[1]} />;
  if (parts[0] === "t" && parts[1]) {
    const tenant = parts[1];
    switch (parts[2]) {
      case "campaigns":
        if (parts[3] === "new") return <CampaignNew tenant={tenant} />;
        if (parts[3]) return <CampaignPage tenant={tenant} campaign={parts[3]} />;
        return <Campaigns tenant={tenant} />;
      case "templates":
        return <Templates tenant={tenant} template={parts[3]} />;
      case "snippets":
        return <Snippets tenant={tenant} name={parts[3]} />;
      case "seed-list":
        return <SeedList tenant={tenant} />;
      case "suppressions":
        return <Suppressions tenant={tenant} />;
      case "audiences":
        return <Audiences tenant={tenant} />;
      case "deliverability":
        return <Deliverability tenant={tenant} />;
    }
  }
  return <Redirect to={homeOf(session)} />;
}

function Redirect({ to }: { to: string }) {
  useEffect(() => navigate(to), [to]);
  return null;
}

function Shell({
  session,
  path,
  onSignOut,
  children,
}: {
  session: Session;
  path: string;
  onSignOut: () => void;
  children: React.ReactNode;
}) {
  const parts = segments(path);
  // The retailer the menu leads to: a marketer's own, always; the one an operator opened.
  const viewing = parts[0] === "t" ? parts[1] : null;
  const tenant = session.role === "operator" ? viewing : session.tenant;
  const link = (to: string, label: string) => (
    <a href={href(to)} aria-current={path.startsWith(to) ? "page" : undefined}>
      {label}
    </a>
  );
  return (
    <>
      <a className="skip" href="#main">
        Skip to content
      </a>
      <header className="top">
        <span className="brand">Storecast</span>
        <nav aria-label="Main">
          {session.role === "operator" ? link("/retailers", "Retailers") : null}
          {tenant ? (
            <>
              {link(`/t/${tenant}/campaigns`, "Campaigns")}
              {link(`/t/${tenant}/audiences`, "Audiences")}
              {link(`/t/${tenant}/templates`, "Templates")}
              {link(`/t/${tenant}/snippets`, "Snippets")}
              {link(`/t/${tenant}/seed-list`, "Seed list")}
              {link(`/t/${tenant}/suppressions`, "Suppressions")}
              {link(`/t/${tenant}/deliverability`, "Deliverability")}
            </>
          ) : null}
        </nav>
        <span className="who" data-testid="who">
          {session.role}
          {session.tenant ? ` · ${session.tenant}` : ""}
          {viewing && viewing !== session.tenant ? ` · viewing ${viewing}` : ""}
        </span>
        <button type="button" className="link" onClick={onSignOut}>
          Sign out
        </button>
      </header>
      <main id="main" className={parts[2] === "templates" || parts[2] === "snippets" ? "page page-wide" : "page"} tabIndex={-1}>
        {children}
      </main>
    </>
  );
}
