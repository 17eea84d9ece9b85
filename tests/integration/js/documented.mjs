// The seed's "Frontend Integration Example" (docs/socketio.md §1), run as written but for the URL,
// under a small harness that reports what arrived (lines starting with "@@") and, once the
// chart has its data, does what the example does when the component unmounts.
import { io } from "socket.io-client";

const report = (event, data) => console.log("@@" + JSON.stringify({ event, data }));
const deadline = setTimeout(() => { report("timeout", null); process.exit(1); }, 20000);

// ---- the example, unchanged but for the URL ----
// Connect to backend
const socket = io(process.env.BS_URL);

// Subscribe to Bitcoin price
socket.emit("subscribe", { symbol: "BTCUSDT" });

// Listen for price updates
socket.on("price_update", (data) => {
  console.log(`${data.symbol}: $${data.price}`);
  // Update your chart here
});

// Get historical data for chart
socket.on("historical_data", (data) => {
  console.log(`Historical data for ${data.symbol}:`, data.data);
  // Initialize chart with historical data
});
// ---- end of the example ----

let updates = 0;
socket.on("subscription_confirmed", (data) => report("subscription_confirmed", data));
socket.on("historical_data", (data) => report("historical_data", data));
socket.on("price_update", (data) => {
  report("price_update", data);
  updates += 1;
  if (updates === 2) {
    // Unsubscribe when component unmounts
    socket.emit("unsubscribe", { symbol: "BTCUSDT" });
    report("transport", socket.io.engine.transport.name);
    clearTimeout(deadline);
    socket.disconnect();
    report("done", null);
  }
});
