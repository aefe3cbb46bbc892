// The dev catalog. Ids are fixed so other services' seed data can refer to them.
export interface CatalogItem {
  id: string;
  sku: string;
  name: string;
  description: string;
  priceAmount: number;
  stock: number;
}

const item = (n: number, sku: string, name: string, description: string, priceAmount: number, stock: number): CatalogItem => ({
  id: `7c0a1000-0000-4000-8000-${String(n).padStart(12, '0')}`,
  sku,
  name,
  description,
  priceAmount,
  stock,
});

export const CURRENCY = 'EUR';

export const catalog: CatalogItem[] = [
  item(1, 'AGR-KB-001', 'Mechanical keyboard', 'Tenkeyless, hot-swappable brown switches.', 8900, 40),
  item(2, 'AGR-MS-002', 'Wireless mouse', 'Ergonomic, 70-day battery.', 3900, 120),
  item(3, 'AGR-MN-003', '27" monitor', '1440p IPS panel, 144 Hz.', 32900, 15),
  item(4, 'AGR-HS-004', 'Noise-cancelling headset', 'Over-ear, USB-C and Bluetooth.', 17900, 25),
  item(5, 'AGR-WC-005', 'Webcam', '1080p with privacy shutter.', 6900, 60),
  item(6, 'AGR-DK-006', 'USB-C dock', 'Two displays, 96 W passthrough.', 14900, 30),
  item(7, 'AGR-CH-007', 'Office chair', 'Mesh back, adjustable lumbar support.', 29900, 8),
  item(8, 'AGR-DS-008', 'Standing desk', 'Electric, 120 x 70 cm, memory presets.', 44900, 5),
  item(9, 'AGR-LA-009', 'Desk lamp', 'Dimmable LED with colour temperature control.', 4900, 75),
  item(10, 'AGR-NB-010', 'Notebook', 'A5 dotted, 160 pages.', 1200, 500),
  item(11, 'AGR-PN-011', 'Fountain pen', 'Steel nib, converter included.', 2900, 90),
  item(12, 'AGR-BP-012', 'Laptop backpack', 'Fits 16" laptops, water-resistant.', 7900, 45),
  item(13, 'AGR-SS-013', 'Portable SSD 1 TB', 'USB 3.2, 1050 MB/s.', 10900, 50),
  item(14, 'AGR-CB-014', 'USB-C cable 2 m', '100 W, braided.', 1500, 300),
  item(15, 'AGR-SP-015', 'Bluetooth speaker', 'Splash-proof, 12-hour battery.', 5900, 35),
  item(16, 'AGR-MP-016', 'Mouse pad XL', '90 x 40 cm, stitched edges.', 1900, 150),
  item(17, 'AGR-MA-017', 'Monitor arm', 'Gas spring, VESA 75/100.', 8900, 20),
  item(18, 'AGR-CH-018', 'Laptop charger 65 W', 'GaN, two USB-C ports.', 3900, 80),
  item(19, 'AGR-HB-019', 'USB hub', 'Four USB-A 3.0 ports.', 2400, 110),
  item(20, 'AGR-MC-020', 'Condenser microphone', 'USB, cardioid pattern, desk stand.', 9900, 3),
];
