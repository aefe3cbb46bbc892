// A small horizontal bar chart as SVG, one group of bars per measured case, with an optional
// goal line per group: enough for results/*.svg without a charting dependency.

export interface Bar {
  label: string;
  value: number;
}

export interface BarGroup {
  label: string;
  bars: Bar[];
  /** A goal or published figure drawn as a dashed line across the group. */
  mark?: Bar;
}

export interface BarChart {
  title: string;
  unit: string;
  groups: BarGroup[];
}

const COLOURS = ['#3b6ea5', '#c0504d', '#9bbb59', '#8064a2', '#f79646'];
const escape = (text: string): string => text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
const format = (value: number): string => (value >= 100 ? value.toFixed(0) : value >= 10 ? value.toFixed(1) : value.toFixed(2));

/** Each group scaled on its own axis (groups may differ by orders of magnitude). */
export function barChart(chart: BarChart): string {
  const width = 720;
  const labelWidth = 190;
  const plotWidth = width - labelWidth - 90;
  const barHeight = 18;
  const lines: string[] = [];
  let y = 40;
  for (const group of chart.groups) {
    const top = Math.max(...group.bars.map((bar) => bar.value), group.mark?.value ?? 0) || 1;
    const scale = (value: number) => (Math.max(0, value) / top) * plotWidth;
    lines.push(`<text x="10" y="${y + 4}" font-weight="bold">${escape(group.label)}</text>`);
    y += 12;
    const groupTop = y;
    group.bars.forEach((bar, index) => {
      lines.push(
        `<text x="${labelWidth - 8}" y="${y + 13}" text-anchor="end">${escape(bar.label)}</text>`,
        `<rect x="${labelWidth}" y="${y}" width="${scale(bar.value).toFixed(1)}" height="${barHeight}" fill="${COLOURS[index % COLOURS.length] ?? '#888'}"/>`,
        `<text x="${(labelWidth + scale(bar.value) + 6).toFixed(1)}" y="${y + 13}">${escape(`${format(bar.value)} ${chart.unit}`)}</text>`,
      );
      y += barHeight + 6;
    });
    if (group.mark) {
      const x = (labelWidth + scale(group.mark.value)).toFixed(1);
      lines.push(
        `<line x1="${x}" y1="${groupTop - 4}" x2="${x}" y2="${y - 2}" stroke="#333" stroke-dasharray="4 3"/>`,
        `<text x="${x}" y="${y + 10}" text-anchor="middle" font-size="11">${escape(`${group.mark.label} ${format(group.mark.value)}`)}</text>`,
      );
      y += 14;
    }
    y += 16;
  }
  return [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${y}" viewBox="0 0 ${width} ${y}" font-family="sans-serif" font-size="13">`,
    `<rect width="${width}" height="${y}" fill="#fff"/>`,
    `<text x="10" y="22" font-size="15" font-weight="bold">${escape(chart.title)}</text>`,
    ...lines,
    '</svg>',
    '',
  ].join('\n');
}
