// wire.js - the dashboard's end of the wisp.v1 protocol (docs/PROTOCOL.md): one websocket to the
// coordinator that served the page, msgpack both ways, requests answered by id, subscriptions
// that keep ticking (and are sent again after a reconnect), and the engine's table codec turned
// into {name, columns: [{name, type}], rows: [[value]]}.
//
// Times: the wire carries ns since the epoch as uint64, which msgpack decodes to a BigInt here
// (a double would lose the low bits). Tables keep them as BigInt; views convert for display.

const { encode, decode } = MessagePack;
const CODEC = { useBigInt64: true };

export const num = (v) => (typeof v === 'bigint' ? Number(v) : v);

// A frame string is "name" or "name\x1fpath:line\x1f..." (docs/PROTOCOL.md, Payloads).
export const frameName = (s) => s.split('\x1f', 1)[0];

function decodeStack(strs, st) {
  const nkernel = num(st[0]);
  const names = [];
  for (let i = st.length - 1; i >= 1; i--) // leaf first on the wire; root first here
    names.push(frameName(strs[num(st[i])]) + (i <= nkernel ? '_[k]' : ''));
  return names.join(';');
}

// The engine's table codec -> rows. Strings and stacks become JS strings (stacks folded, root
// first, kernel frames suffixed _[k], as `-o folded` prints them).
export function decodeTable(t) {
  const n = num(t.nrows);
  const columns = t.cols.map((c) => ({ name: c.n, type: c.t }));
  const rows = Array.from({ length: n }, () => new Array(columns.length));
  t.cols.forEach((c, j) => {
    for (let i = 0; i < n; i++) {
      let v = c.v[i];
      if (c.t === 'string') v = t.strs[num(v)];
      else if (c.t === 'stack') v = decodeStack(t.strs, t.stacks[num(v)]);
      else if (c.t === 'int') v = num(v);
      rows[i][j] = v;
    }
  });
  return { name: t.name, columns, rows };
}

export class Wire {
  // onState(state, detail): 'connecting', 'connected' or 'disconnected'.
  constructor(url, onState) {
    this.url = url;
    this.onState = onState;
    this.nextId = 1;
    this.pending = new Map(); // id -> {resolve, reject}
    this.subs = new Map();    // id -> {req, onTick, onError}
    this.queue = [];          // messages waiting for the socket to open
    this.connect();
  }

  connect() {
    this.onState('connecting');
    const ws = new WebSocket(this.url, 'wisp.v1');
    ws.binaryType = 'arraybuffer';
    ws.onopen = () => {
      this.onState('connected');
      for (const [id, s] of this.subs) this.raw({ ...s.req, type: 'subscribe', id });
      for (const m of this.queue.splice(0)) this.raw(m);
    };
    ws.onmessage = (ev) => {
      let m;
      try {
        m = decode(new Uint8Array(ev.data), CODEC);
      } catch (e) {
        console.warn('wisp: an undecodable message from the coordinator', e);
        return;
      }
      this.receive(m);
    };
    ws.onclose = () => {
      this.onState('disconnected');
      for (const p of this.pending.values()) p.reject(new Error('the connection to the coordinator was lost'));
      this.pending.clear();
      setTimeout(() => this.connect(), 1000);
    };
    this.ws = ws;
  }

  raw(m) {
    if (this.ws.readyState === WebSocket.OPEN) this.ws.send(encode(m, CODEC));
    else this.queue.push(m);
  }

  receive(m) {
    const id = num(m.id);
    const sub = this.subs.get(id);
    if (sub) {
      if (m.type === 'tick') sub.onTick(m);
      else if (m.type === 'error') {
        this.subs.delete(id);
        sub.onError(m.message);
      }
      return;
    }
    const p = this.pending.get(id);
    if (!p) return;
    this.pending.delete(id);
    if (m.type === 'error') p.reject(new Error(m.message));
    else p.resolve(m);
  }

  // One request, one answer (run, agents): a promise of the answer message.
  request(m) {
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      this.raw({ ...m, id });
    });
  }

  // A live query: onTick(tick) every every_ms until unsubscribe(id) or onError(message).
  subscribe(req, onTick, onError) {
    const id = this.nextId++;
    this.subs.set(id, { req, onTick, onError });
    this.raw({ ...req, type: 'subscribe', id });
    return id;
  }

  unsubscribe(id) {
    if (this.subs.delete(id)) this.raw({ type: 'unsubscribe', id });
  }
}
