// The seed's dashboard session (docs/socketio.md §2) with the official client: GET
// /symbols/active, subscribe to all in list form, initial_data then subscribed, three list-form
// price_updates, get_historical, unsubscribe. Reports each step on stdout as "@@" JSON lines.
import { io } from "socket.io-client";

const base = process.env.BS_URL;
const transports = JSON.parse(process.env.BS_TRANSPORTS || '["websocket", "polling"]');
const report = (event, data) => console.log("@@" + JSON.stringify({ event, data }));
const fail = (why) => { report("failed", why); process.exit(1); };
setTimeout(() => fail("timeout"), 25000);

const once = (socket, event) => new Promise((resolve) => socket.once(event, resolve));

const response = await fetch(`${base}/api/v1/symbols/active`);
const body = await response.json();
if (!body.success || !Array.isArray(body.data)) fail(`symbols/active answered ${JSON.stringify(body)}`);
const symbols = body.data;
report("symbols", symbols);

const socket = io(base, { transports });
const order = [];
socket.onAny((event) => order.push(event));
socket.on("error", (data) => report("error", data));

const initial = once(socket, "initial_data");
const subscribed = once(socket, "subscribed");
const updates = [];
const threeUpdates = new Promise((resolve) => {
  socket.on("price_update", (data) => {
    updates.push(data);
    if (updates.length === 3) resolve();
  });
});
socket.emit("subscribe", { symbols });
report("initial_data", await initial);
report("subscribed", await subscribed);
report("order", order.slice(0, 2));
await threeUpdates;
report("price_updates", updates.slice(0, 3));

const historical = once(socket, "historical_data");
socket.emit("get_historical", { symbol: symbols[0] });
report("historical_data", await historical);

const unsubscribed = once(socket, "unsubscribed");
socket.emit("unsubscribe", { symbols });
report("unsubscribed", await unsubscribed);
report("transport", socket.io.engine.transport.name);
socket.disconnect();
report("done", null);
process.exit(0);
