import { AgentError } from "../../errors.js";
import { postText } from "./http-post.js";

/**
 * A minimal XML-RPC client for the ROS master and slave APIs, over node:http
 * with an AbortSignal: every call is bounded and independent (rosnodejs'
 * own client retries forever and queues every call behind the first).
 */

export type XmlRpcValue = string | number | boolean | XmlRpcValue[] | { [key: string]: XmlRpcValue };

export async function xmlRpcCall(
  url: string,
  method: string,
  params: readonly XmlRpcValue[],
  options: { readonly timeoutMs: number; readonly signal?: AbortSignal },
): Promise<XmlRpcValue> {
  const body = `<?xml version="1.0"?><methodCall><methodName>${escapeXml(method)}</methodName><params>${params
    .map((p) => `<param>${serialize(p)}</param>`)
    .join("")}</params></methodCall>`;
  return parseResponse(await postText(url, body, `${method} to ${url}`, options), method);
}

/** ROS API calls answer `[code, statusMessage, value]`; code 1 is success. */
export async function rosApiCall(
  url: string,
  method: string,
  params: readonly XmlRpcValue[],
  options: { readonly timeoutMs: number; readonly signal?: AbortSignal },
): Promise<XmlRpcValue> {
  const r = await xmlRpcCall(url, method, params, options);
  if (!Array.isArray(r) || r.length < 3)
    throw new AgentError("EXTERNAL_COMMAND_FAILED", `${method} to ${url}: malformed ROS API answer`);
  const [code, status, value] = r;
  if (code !== 1 || value === undefined)
    throw new AgentError(
      "EXTERNAL_COMMAND_FAILED",
      `${method} to ${url}: ${String(status)} (code ${String(code)})`,
    );
  return value;
}

function serialize(v: XmlRpcValue): string {
  if (typeof v === "string") return `<value><string>${escapeXml(v)}</string></value>`;
  if (typeof v === "boolean") return `<value><boolean>${v ? 1 : 0}</boolean></value>`;
  if (typeof v === "number")
    return Number.isInteger(v) ? `<value><int>${v}</int></value>` : `<value><double>${v}</double></value>`;
  if (Array.isArray(v)) return `<value><array><data>${v.map(serialize).join("")}</data></array></value>`;
  const members = Object.entries(v)
    .map(([k, m]) => `<member><name>${escapeXml(k)}</name>${serialize(m)}</member>`)
    .join("");
  return `<value><struct>${members}</struct></value>`;
}

function escapeXml(s: string): string {
  return s.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;");
}

function unescapeXml(s: string): string {
  return s.replace(/&(#x[0-9a-fA-F]+|#[0-9]+|lt|gt|amp|quot|apos);/g, (_, e: string) => {
    if (e.startsWith("#x")) return String.fromCodePoint(Number.parseInt(e.slice(2), 16));
    if (e.startsWith("#")) return String.fromCodePoint(Number.parseInt(e.slice(1), 10));
    return { lt: "<", gt: ">", amp: "&", quot: '"', apos: "'" }[e] ?? "";
  });
}

type Token =
  | { readonly tag: string; readonly close: boolean; readonly empty: boolean }
  | { readonly text: string };

function tokenize(xml: string): Token[] {
  const tokens: Token[] = [];
  const re = /<\?[^>]*\?>|<(\/?)([A-Za-z_][\w.:-]*)[^>]*?(\/?)>|([^<]+)/g;
  for (let m = re.exec(xml); m !== null; m = re.exec(xml)) {
    if (m[2] !== undefined) tokens.push({ tag: m[2], close: m[1] === "/", empty: m[3] === "/" });
    else if (m[4] !== undefined) tokens.push({ text: m[4] });
  }
  return tokens;
}

/** Parses a methodResponse: its one param, or a fault as an error. */
export function parseResponse(xml: string, method = "call"): XmlRpcValue {
  const p = new Parser(tokenize(xml));
  p.open("methodResponse");
  if (p.peekOpen("fault")) {
    p.open("fault");
    const fault = p.value();
    const msg =
      typeof fault === "object" && !Array.isArray(fault) ? String(fault.faultString ?? "") : String(fault);
    throw new AgentError("EXTERNAL_COMMAND_FAILED", `${method}: XML-RPC fault: ${msg}`);
  }
  p.open("params");
  p.open("param");
  return p.value();
}

class Parser {
  private i = 0;
  constructor(private readonly tokens: readonly Token[]) {}

  private next(skipSpace = true): Token {
    for (;;) {
      const t = this.tokens[this.i++];
      if (t === undefined) throw new AgentError("EXTERNAL_COMMAND_FAILED", "truncated XML-RPC answer");
      if (skipSpace && "text" in t && t.text.trim() === "") continue;
      return t;
    }
  }

  peekOpen(tag: string): boolean {
    const save = this.i;
    const t = this.next();
    this.i = save;
    return "tag" in t && t.tag === tag && !t.close;
  }

  open(tag: string): boolean {
    const t = this.next();
    if (!("tag" in t) || t.tag !== tag || t.close)
      throw new AgentError("EXTERNAL_COMMAND_FAILED", `malformed XML-RPC answer: expected <${tag}>`);
    return t.empty;
  }

  close(tag: string): void {
    const t = this.next();
    if (!("tag" in t) || t.tag !== tag || !t.close)
      throw new AgentError("EXTERNAL_COMMAND_FAILED", `malformed XML-RPC answer: expected </${tag}>`);
  }

  /** Text up to the closing tag (empty when none). */
  private text(tag: string): string {
    const t = this.next(false);
    if ("text" in t) {
      this.close(tag);
      return unescapeXml(t.text);
    }
    if (t.tag === tag && t.close) return "";
    throw new AgentError("EXTERNAL_COMMAND_FAILED", `malformed XML-RPC answer in <${tag}>`);
  }

  value(): XmlRpcValue {
    if (this.open("value")) return "";
    const t = this.next(false);
    if ("text" in t) {
      const after = this.next();
      // <value>text</value> without a type tag is a string.
      if ("tag" in after && after.tag === "value" && after.close) return unescapeXml(t.text);
      if (t.text.trim() !== "") throw new AgentError("EXTERNAL_COMMAND_FAILED", "malformed XML-RPC value");
      return this.typed(after);
    }
    if (t.tag === "value" && t.close) return "";
    return this.typed(t);
  }

  private typed(t: Token): XmlRpcValue {
    if (!("tag" in t) || t.close) throw new AgentError("EXTERNAL_COMMAND_FAILED", "malformed XML-RPC value");
    let v: XmlRpcValue;
    switch (t.tag) {
      case "string":
      case "base64":
      case "dateTime.iso8601":
        v = t.empty ? "" : this.text(t.tag);
        break;
      case "int":
      case "i4":
      case "i8":
      case "double":
        v = Number(this.text(t.tag));
        break;
      case "boolean":
        v = this.text(t.tag).trim() === "1";
        break;
      case "nil":
        if (!t.empty) this.close("nil");
        v = "";
        break;
      case "array": {
        const items: XmlRpcValue[] = [];
        if (!this.open("data")) {
          while (this.peekOpen("value")) items.push(this.value());
          this.close("data");
        }
        this.close("array");
        v = items;
        break;
      }
      case "struct": {
        const o: { [key: string]: XmlRpcValue } = {};
        if (!t.empty) {
          while (this.peekOpen("member")) {
            this.open("member");
            this.open("name");
            const name = this.text("name");
            o[name] = this.value();
            this.close("member");
          }
          this.close("struct");
        }
        v = o;
        break;
      }
      default:
        throw new AgentError("EXTERNAL_COMMAND_FAILED", `unsupported XML-RPC type <${t.tag}>`);
    }
    this.close("value");
    return v;
  }
}
