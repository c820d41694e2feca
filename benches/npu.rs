//! Criterion benchmark of the GeneSys simulator's systolic inner loop: one 256×256 (IC×OC)
//! weight block against 128 pixels on the default 16×16 design (8.4 M MACs per run,
//! reduction over 16 IC blocks with bias on the first). Throughput is reported in MACs.

use criterion::{criterion_group, criterion_main, Criterion, Throughput};

use loomap::npu::{Dram, NpuConfig, Program, Simulator};

const PROGRAM: &str = "SYNC_INST SYSTOLIC_ARRAY, START, EXEC, 0, 0, 38
SET_BASE_ADDR LOW, BUFFER, IBUF, 0, 0
SET_BASE_ADDR HIGH, BUFFER, WBUF, 0, 1
SET_BASE_ADDR HIGH, BUFFER, OBUF, 0, 2
SA_LOOP_CFG 0, 0, 0
SET_LOOP_STRIDE LOW, LD, IBUF, 0, 0
SET_LOOP_STRIDE LOW, LD, WBUF, 0, 0
SET_LOOP_STRIDE LOW, ST, OBUF, 0, 0
SA_LOOP_CFG 0, 23, 0
SET_LOOP_STRIDE LOW, LD, WBUF, 23, 0
LD_ST LD, BUFFER, WBUF, 23, 256
SA_LOOP_CFG 0, 14, 0
SET_LOOP_STRIDE LOW, LD, IBUF, 14, 0
LD_ST LD, BUFFER, IBUF, 14, 2048
SA_LOOP_CFG 0, 7, 15
SET_LOOP_STRIDE LOW, RD, IBUF, 7, 0
SET_LOOP_STRIDE LOW, RD, WBUF, 7, 1
SET_LOOP_STRIDE LOW, RD, BBUF, 7, 1
SET_LOOP_STRIDE LOW, RD, OBUF, 7, 1
SET_LOOP_STRIDE LOW, WR, OBUF, 7, 1
SA_LOOP_CFG 0, 8, 127
SET_LOOP_STRIDE LOW, RD, IBUF, 8, 16
SET_LOOP_STRIDE LOW, RD, OBUF, 8, 16
SET_LOOP_STRIDE LOW, WR, OBUF, 8, 16
SA_LOOP_CFG 0, 9, 15
SA_REDUCTION_LOOP 32, 2, INNER, IC
SET_LOOP_STRIDE LOW, RD, IBUF, 9, 1
SET_LOOP_STRIDE LOW, RD, WBUF, 9, 16
SA_LOOP_CFG 0, 29, 0
SET_LOOP_STRIDE LOW, ST, OBUF, 29, 0
LD_ST ST, BUFFER, OBUF, 29, 8192
SYNC_INST SYSTOLIC_ARRAY, END, EXEC, 0, 0, 0
BLOCK_END 1
";

fn bench_systolic(c: &mut Criterion) {
    let program = Program::parse_asm(PROGRAM).expect("bench program assembles");
    let cfg = NpuConfig::default();
    let mut dram = Dram::new(cfg.dram_bytes);
    let bytes: Vec<i64> = (0..65536).map(|i| (i * 7 % 255) - 127).collect();
    dram.write_elements(0, &bytes[..32768], 1)
        .expect("in range");
    dram.write_elements(1 << 16, &bytes, 1).expect("in range");
    let macs = 16 * 128 * 16 * 256;
    let mut g = c.benchmark_group("npu");
    g.throughput(Throughput::Elements(macs));
    g.bench_function("systolic_256x256x128", |b| {
        b.iter(|| {
            let mut sim = Simulator::new(cfg.clone(), dram.clone());
            let r = sim.run(&program).expect("bench program runs");
            assert_eq!(r.macs, macs);
            r.cycles
        })
    });
    g.finish();
}

criterion_group!(benches, bench_systolic);
criterion_main!(benches);
