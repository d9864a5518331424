// Putting a file to a presigned URL with upload progress. fetch() reports no upload progress,
// so this is XMLHttpRequest's `upload.onprogress`; the request is the one the URL was signed
// for: PUT, with exactly the signed Content-Type, no credentials and no Authorization header (the
// signature in the query authorizes it; the API's token must never go to S3).
export interface UploadTarget {
  url: string;
  method: string;
  content_type: string;
}

/** The part of XMLHttpRequest an upload uses (a fake in the unit tests). */
export interface UploadRequest {
  open(method: string, url: string): void;
  setRequestHeader(name: string, value: string): void;
  send(body: Blob): void;
  abort(): void;
  status: number;
  upload: { onprogress: ((event: { loaded: number; total: number; lengthComputable: boolean }) => void) | null };
  onload: (() => void) | null;
  onerror: (() => void) | null;
  onabort: (() => void) | null;
}

export class UploadFailed extends Error {}

/** Resolves when the store accepted the whole file; `onProgress` gets the fraction sent (0 to 1). */
export function putFile(
  target: UploadTarget,
  file: Blob,
  onProgress: (fraction: number) => void,
  signal?: AbortSignal,
  // XMLHttpRequest is the real one; its handlers take richer events than these fields.
  request: () => UploadRequest = () => new XMLHttpRequest() as unknown as UploadRequest,
): Promise<void> {
  return new Promise((resolve, reject) => {
    const xhr = request();
    xhr.open(target.method, target.url);
    xhr.setRequestHeader("Content-Type", target.content_type);
    xhr.upload.onprogress = (event) => {
      onProgress(event.lengthComputable && event.total > 0 ? event.loaded / event.total : 0);
    };
    xhr.onload = () => {
      if (xhr.status >= 200 && xhr.status < 300) {
        onProgress(1);
        resolve();
      } else {
        reject(new UploadFailed(`The upload was refused: HTTP ${xhr.status} (the URL lasts 15 minutes: try again).`));
      }
    };
    xhr.onerror = () => reject(new UploadFailed("The upload could not reach the store (network or CORS)."));
    xhr.onabort = () => reject(new DOMException("The upload was cancelled.", "AbortError"));
    signal?.addEventListener("abort", () => xhr.abort(), { once: true });
    xhr.send(file);
  });
}

/** A gzip-compressed export is named so; anything else is sent as JSON lines. */
export function isGzip(fileName: string): boolean {
  return /\.gz$/i.test(fileName);
}
