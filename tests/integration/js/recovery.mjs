// Connection state recovery with the official client: connect (opting in with auth
// {recover: true}), subscribe in the documented dialect (BS_DIALECT=documented, one subscribe
// per symbol) or the list dialect (list), take BS_BEFORE price_updates, cut the transport as a
// network loss would (the engine's TCP socket destroyed; a polling engine is closed), stay away
// BS_CUT_MS, reconnect to BS_URL2 (another front) and listen BS_AFTER_MS more. Every connect
// and every price_update (with its offset) is reported as an "@@" JSON line. A fresh session
// (not recovered) subscribes again, as an application does on "connect".
import { io } from "socket.io-client";

const url = process.env.BS_URL;
const url2 = process.env.BS_URL2 || url;
const dialect = process.env.BS_DIALECT || "documented";
const symbols = JSON.parse(process.env.BS_SYMBOLS);
const before = Number(process.env.BS_BEFORE || "3");
const cutMs = Number(process.env.BS_CUT_MS || "10000");
const afterMs = Number(process.env.BS_AFTER_MS || "3000");
const transports = JSON.parse(process.env.BS_TRANSPORTS || '["polling", "websocket"]');
const report = (event, data) => console.log("@@" + JSON.stringify({ event, data }));
setTimeout(() => { report("timeout", null); process.exit(1); }, cutMs + afterMs + 40000);

const socket = io(url, { auth: { recover: true }, transports });
let phase = "before";
let updates = 0;

const subscribe = () => {
  if (dialect === "list") socket.emit("subscribe", { symbols });
  else for (const symbol of symbols) socket.emit("subscribe", { symbol });
};

socket.on("connect", () => {
  report("connect", { phase, recovered: socket.recovered, transport: socket.io.engine.transport.name });
  if (!socket.recovered) subscribe();
  if (phase === "cut") {
    phase = "after";
    setTimeout(() => {
      report("done", null);
      socket.disconnect();
      process.exit(0);
    }, afterMs);
  }
});
socket.on("connect_error", (err) => report("connect_error", String(err)));
socket.on("error", (data) => report("error", data));
socket.on("disconnect", (reason) => report("disconnect", { phase, reason }));
socket.on("subscription_confirmed", (data) => report("subscription_confirmed", data));
socket.on("subscribed", (data) => report("subscribed", data.symbols));
socket.on("price_update", (data, offset) => {
  report("price_update", { phase, data, offset });
  updates += 1;
  if (phase === "before" && updates >= before) cut();
});

function cut() {
  phase = "cut";
  const manager = socket.io;
  manager.reconnectionDelay(cutMs);
  manager.reconnectionDelayMax(cutMs);
  manager.randomizationFactor(0);
  manager.uri = url2;
  const transport = manager.engine.transport;
  report("cut", { transport: transport.name });
  const tcp = transport.ws && transport.ws._socket;
  if (tcp) tcp.destroy(); // no close frame: what the server sees of a network loss
  else manager.engine.close();
}
