// Hash routes (`#/t/alpine/campaigns`): the static host needs no rewrite rule for deep links.
import { useEffect, useState } from "react";

export function currentPath(): string {
  const hash = window.location.hash.replace(/^#/, "");
  return hash.startsWith("/") ? hash : "/";
}

export function useRoute(): string {
  const [path, setPath] = useState(currentPath);
  useEffect(() => {
    const changed = () => setPath(currentPath());
    window.addEventListener("hashchange", changed);
    return () => window.removeEventListener("hashchange", changed);
  }, []);
  return path;
}

export function navigate(path: string): void {
  window.location.hash = path;
}

export function href(path: string): string {
  return `#${path}`;
}

/** The route's parts: `/t/alpine/campaigns/x` → ["t", "alpine", "campaigns", "x"], decoded. */
export function segments(path: string): string[] {
  return path
    .split("/")
    .filter((part) => part !== "")
    .map((part) => decodeURIComponent(part));
}
