/** One part of a multipart/form-data body. */
export interface FormPart {
  /** The `name` parameter of Content-Disposition. */
  name: string;
  /** The `filename` (or RFC 5987 `filename*`) parameter; present only on file parts. */
  filename?: string;
  /** The part's own Content-Type header, when sent. */
  contentType?: string;
  /** The part's body bytes, without the CRLF that precedes the next delimiter. */
  data: Buffer;
}

/** A body that does not follow RFC 7578 framing; the fake answers it with 400. */
export class MultipartError extends Error {
  override name = 'MultipartError';
}

/** Parameters of a header value such as `form-data; name="file"; filename="a.wav"`, keys lower-cased. */
export function headerParams(value: string): Map<string, string> {
  const params = new Map<string, string>();
  const re = /;\s*([^=;\s]+)\s*=\s*("(?:[^"\\]|\\.)*"|[^;]*)/g;
  for (const m of value.matchAll(re)) {
    const key = (m[1] ?? '').toLowerCase();
    let v = (m[2] ?? '').trim();
    if (v.startsWith('"')) v = v.slice(1, -1).replace(/\\(.)/g, '$1');
    params.set(key, v);
  }
  return params;
}

/** The boundary of a `multipart/form-data` Content-Type, or undefined for any other type. */
export function multipartBoundary(contentType: string | undefined): string | undefined {
  if (!contentType) return undefined;
  const [type] = contentType.split(';');
  if (type?.trim().toLowerCase() !== 'multipart/form-data') return undefined;
  const boundary = headerParams(contentType).get('boundary');
  return boundary && boundary.length <= 70 ? boundary : undefined;
}

/** Splits a multipart/form-data body into its parts. Throws MultipartError on broken framing. */
export function parseMultipart(body: Buffer, boundary: string): FormPart[] {
  const delimiter = Buffer.from(`--${boundary}`, 'latin1');
  const nextDelimiter = Buffer.from(`\r\n--${boundary}`, 'latin1');
  const parts: FormPart[] = [];
  let pos = body.indexOf(delimiter);
  if (pos < 0) throw new MultipartError('multipart body has no boundary delimiter');
  for (;;) {
    pos += delimiter.length;
    if (body.toString('latin1', pos, pos + 2) === '--') return parts; // close delimiter
    // Transport padding (spaces/tabs) may follow a delimiter before its CRLF.
    while (body[pos] === 0x20 || body[pos] === 0x09) pos++;
    if (body.toString('latin1', pos, pos + 2) !== '\r\n') throw new MultipartError('malformed multipart delimiter line');
    pos += 2;
    const headerEnd = body.indexOf('\r\n\r\n', pos, 'latin1');
    if (headerEnd < 0) throw new MultipartError('multipart part without header terminator');
    const headers = parseHeaders(body.toString('utf8', pos, headerEnd));
    const dataStart = headerEnd + 4;
    const dataEnd = body.indexOf(nextDelimiter, dataStart);
    if (dataEnd < 0) throw new MultipartError('multipart body ends without a closing delimiter');
    const disposition = headers.get('content-disposition');
    if (!disposition || !/^\s*form-data\s*(;|$)/i.test(disposition)) {
      throw new MultipartError('multipart part without Content-Disposition: form-data');
    }
    const params = headerParams(disposition);
    const name = params.get('name');
    if (name === undefined) throw new MultipartError('multipart part without a name');
    const part: FormPart = { name: unescapeFormValue(name), data: body.subarray(dataStart, dataEnd) };
    const plainFilename = params.get('filename');
    const filename = extendedFilename(params.get('filename*')) ?? (plainFilename === undefined ? undefined : unescapeFormValue(plainFilename));
    if (filename !== undefined) part.filename = filename;
    const contentType = headers.get('content-type');
    if (contentType !== undefined) part.contentType = contentType;
    parts.push(part);
    pos = dataEnd + 2; // now at the `--boundary` of the next delimiter
  }
}

function parseHeaders(block: string): Map<string, string> {
  const headers = new Map<string, string>();
  for (const line of block.split('\r\n')) {
    const colon = line.indexOf(':');
    if (colon <= 0) throw new MultipartError(`malformed multipart header line: ${line.slice(0, 80)}`);
    headers.set(line.slice(0, colon).trim().toLowerCase(), line.slice(colon + 1).trim());
  }
  return headers;
}

/**
 * Browsers and undici write `"`, CR and LF in names and filenames as %22, %0D and %0A (WHATWG
 * multipart/form-data encoding); the WHATWG parser turns them back, and so does this one.
 */
function unescapeFormValue(value: string): string {
  return value.replace(/%(0A|0D|22)/gi, (_m, hex: string) => String.fromCharCode(parseInt(hex, 16)));
}

/** Decodes RFC 5987 `UTF-8''na%C3%AFve.wav`; undefined when absent or not in that form. */
function extendedFilename(value: string | undefined): string | undefined {
  const m = value === undefined ? null : /^utf-8'[^']*'(.*)$/i.exec(value);
  if (!m) return undefined;
  try {
    return decodeURIComponent(m[1] ?? '');
  } catch {
    return undefined;
  }
}
