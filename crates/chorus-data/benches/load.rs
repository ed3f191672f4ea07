//! Loading time of the full datasets: 2000 MyriadLAMA items and 5810 WebQuestions
//! items (test + train).

use chorus_data::{DataDir, Dataset, EmptyPolicy};
use criterion::{Criterion, criterion_group, criterion_main};

fn load_all(c: &mut Criterion) {
    let dir = DataDir::resolve(None);
    c.bench_function("load myriadlama test (2000 items)", |b| {
        b.iter(|| {
            Dataset::MyriadLama
                .load(&dir, EmptyPolicy::Error)
                .expect("myriadlama loads")
        })
    });
    c.bench_function("load webquestions test+train (5810 items)", |b| {
        b.iter(|| {
            let test = Dataset::WebQa
                .load(&dir, EmptyPolicy::Error)
                .expect("webqa test loads");
            let train = Dataset::WebQa
                .load_train(&dir, EmptyPolicy::Error)
                .expect("webqa train loads");
            (test, train)
        })
    });
}

criterion_group!(benches, load_all);
criterion_main!(benches);
