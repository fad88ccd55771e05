// The trace readers: two-column, Mahimahi, CSV and JSON, on small inline examples.
import { describe, expect, it } from 'vitest';
import { Rng } from '../rng.ts';
import { TraceChannel, detectTraceFormat, parseCsvTrace, parseJsonTrace, parseMahimahi, parseTrace, readTrace } from './channel.ts';

describe('trace readers', () => {
  it('reads two-column time / Mbit/s files (tabs, spaces, commas), skipping other lines', () => {
    const text = '# comment\n0.0\t4.0\n0.55 4.8\n1.2,0.5\n\n';
    expect(detectTraceFormat(text)).toBe('two-column');
    expect(parseTrace(text)).toEqual([
      { t: 0, mbps: 4 },
      { t: 0.55, mbps: 4.8 },
      { t: 1.2, mbps: 0.5 },
    ]);
  });

  it('reads Mahimahi packet-delivery traces: 1500-byte packets per ms timestamp, binned', () => {
    // 0-500 ms: 10 packets; 500-1000 ms: 5 packets (two in the same ms); 1000-1500: 1
    const lines = [1, 50, 100, 150, 200, 250, 300, 350, 400, 450, 600, 600, 700, 800, 900, 1200];
    const text = lines.join('\n') + '\n';
    expect(detectTraceFormat(text)).toBe('mahimahi');
    const s = parseMahimahi(text, 500);
    // 10 x 1500 x 8 bits in 0.5 s = 0.24 Mbit/s
    expect(s.map((x) => x.t)).toEqual([0, 0.5, 1, 1.5]);
    expect(s[0]!.mbps).toBeCloseTo(0.24, 12);
    expect(s[1]!.mbps).toBeCloseTo(0.12, 12);
    expect(s[2]!.mbps).toBeCloseTo(0.024, 12);
    // a 12 Mbit/s link is one packet per ms
    const full = parseMahimahi(Array.from({ length: 1000 }, (_, i) => i + 1).join('\n'), 1000);
    expect(full[0]!.mbps).toBeCloseTo(12, 12);
  });

  it('reads CSV with bandwidth and delay columns, units from the header', () => {
    const text = 'time_ms,bandwidth_kbps,rtt_ms\n0,2000,40\n1000,500,80\n2000,3500,35\n';
    expect(detectTraceFormat(text)).toBe('csv');
    expect(parseCsvTrace(text)).toEqual([
      { t: 0, mbps: 2, rttMs: 40 },
      { t: 1, mbps: 0.5, rttMs: 80 },
      { t: 2, mbps: 3.5, rttMs: 35 },
    ]);
    // semicolons, separate up/down, a one-way delay (round trip = twice it), time offset removed
    const b = parseCsvTrace('timestamp;down;up;delay\n10;12;3;20\n11;8;2;25\n');
    expect(b).toEqual([
      { t: 0, mbps: 12, upMbps: 3, rttMs: 40 },
      { t: 1, mbps: 8, upMbps: 2, rttMs: 50 },
    ]);
    expect(() => parseCsvTrace('time,foo\n0,1\n1,2\n')).toThrow(/no bandwidth column/);
  });

  it('reads JSON arrays of samples, wrapped arrays and objects of columns', () => {
    const a = '[{"time_s": 0, "bandwidth_mbps": 3.1, "rtt_ms": 40}, {"time_s": 0.5, "bandwidth_mbps": 1.2, "rtt_ms": 55}]';
    expect(detectTraceFormat(a)).toBe('json');
    expect(parseJsonTrace(a)).toEqual([
      { t: 0, mbps: 3.1, rttMs: 40 },
      { t: 0.5, mbps: 1.2, rttMs: 55 },
    ]);
    expect(parseJsonTrace('{"samples": [{"t": 0, "throughput": 5}, {"t": 1, "throughput": 6}]}')).toEqual([
      { t: 0, mbps: 5 },
      { t: 1, mbps: 6 },
    ]);
    expect(parseJsonTrace('{"time": [0, 1], "downlink_kbps": [1500, 2500], "latency_ms": [10, 15]}')).toEqual([
      { t: 0, mbps: 1.5, rttMs: 20 },
      { t: 1, mbps: 2.5, rttMs: 30 },
    ]);
  });

  it('replays the trace RTT and uplink when the trace has them', () => {
    const { format, samples } = readTrace('t,down,up,rtt\n0,10,2,30\n5,1,0.5,90\n10,10,2,30\n');
    expect(format).toBe('csv');
    const ch = new TraceChannel('x', samples, new Rng(1), { upRatio: 0.5, rttMs: 20, rttSigma: 0, radio: 'wifi' });
    const seen = new Set<string>();
    for (let i = 0; i < 40; i++) {
      const n = ch.at(i * 500);
      seen.add(`${n.downMbps}/${n.upMbps}/${n.rttMs}`);
    }
    expect([...seen].sort()).toEqual(['1/0.5/90', '10/2/30']);
  });
});
