//! Criterion benchmark of `model::evaluate` on eyeriss_like for every ResNet-50 layer, with
//! random mappings that fit (pre-generated, so only evaluation is measured).

use std::path::Path;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use rand::SeedableRng;

use loomap::{io, mapspace, model};

fn bench_evaluate(c: &mut Criterion) {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let arch = io::load_arch(&root.join("arch/eyeriss_like.toml")).expect("bundled arch parses");
    let net =
        io::load_workload(&root.join("workloads/resnet50.toml")).expect("bundled workload parses");
    let mut rng = rand::rngs::SmallRng::seed_from_u64(7);
    // Prepared once per layer and shared by its mappings, as a search does.
    let evaluators: Vec<model::Evaluator> = net
        .layers
        .iter()
        .map(|l| model::Evaluator::new(&arch, &l.problem))
        .collect();
    let mut cases = Vec::new();
    for (layer, evaluator) in net.layers.iter().zip(&evaluators) {
        let mut found = 0;
        for _ in 0..20_000 {
            let m = mapspace::random_mapping(&arch, &layer.problem, &mut rng);
            if model::evaluate(&arch, &layer.problem, &m).is_ok() {
                cases.push((evaluator, m));
                found += 1;
                if found == 20 {
                    break;
                }
            }
        }
    }
    let mut group = c.benchmark_group("evaluate");
    group.throughput(Throughput::Elements(cases.len() as u64));
    group.bench_function("eyeriss_like/resnet50_feasible", |b| {
        let mut stats = model::Stats::default();
        b.iter(|| {
            let mut acc = 0u64;
            for (evaluator, m) in &cases {
                if let Ok(s) = evaluator.evaluate_into(m, &mut stats) {
                    acc = acc.wrapping_add(s.cycles);
                }
            }
            acc
        })
    });
    group.finish();
}

criterion_group!(benches, bench_evaluate);
criterion_main!(benches);
