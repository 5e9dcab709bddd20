//! What one password hash costs on this machine (argon2id, OWASP parameters): the price of every
//! login and registration, and so the bound on login throughput per core.
//!
//!     cargo bench --bench password_hash

use criterion::{Criterion, criterion_group, criterion_main};

fn bench(c: &mut Criterion) {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    let hasher = phananh::auth::password::PasswordHasher::new(1);
    let stored = runtime.block_on(hasher.hash("núi Langbiang 2026")).unwrap();
    let mut group = c.benchmark_group("argon2id m=19456 t=2 p=1");
    group.sample_size(20);
    group.bench_function("hash", |b| {
        b.iter(|| runtime.block_on(hasher.hash("núi Langbiang 2026")).unwrap())
    });
    group.bench_function("verify (right password)", |b| {
        b.iter(|| {
            runtime
                .block_on(hasher.verify("núi Langbiang 2026", Some(&stored)))
                .unwrap()
        })
    });
    group.bench_function("verify (unknown account, dummy hash)", |b| {
        b.iter(|| {
            runtime
                .block_on(hasher.verify("núi Langbiang 2026", None))
                .unwrap()
        })
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
