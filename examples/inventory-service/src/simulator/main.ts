/**
 * The partner simulator on its own, for several service instances to share one partner:
 *   node examples/inventory-service/dist/simulator.js      (SIMULATOR_PORT, default 4300)
 * Prints the PARTNER_API and PARTNER_API_TOKEN to give every instance.
 */
import { randomBytes } from 'node:crypto';
import { createPartnerSimulator } from './partner-simulator.js';

const port = Number(process.env.SIMULATOR_PORT ?? 4300);
if (!Number.isInteger(port) || port < 0 || port > 65_535) {
  console.error(`simulator: SIMULATOR_PORT must be a port number, got "${process.env.SIMULATOR_PORT}"`);
  process.exit(2);
}
const token = process.env.PARTNER_API_TOKEN || randomBytes(12).toString('hex');
const simulator = createPartnerSimulator({ port, host: '0.0.0.0', token, limit: 30, windowMs: 60_000, keepArrivals: false });
const url = await simulator.start();
const products = simulator.products().map((p) => `${p.productId} (${p.days.join(',')})`);
console.log(`partner simulator: products ${products.join(', ')}, 30 requests/min`);
console.log(`export PARTNER_API=${url.replace('0.0.0.0', '127.0.0.1')} PARTNER_API_TOKEN=${token}`);
const stop = () => void simulator.close().then(() => process.exit(0));
process.on('SIGINT', stop);
process.on('SIGTERM', stop);
