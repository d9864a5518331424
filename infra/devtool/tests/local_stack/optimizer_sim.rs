//! `optimizer-sim`: the command writes the path of every delta run by run and a chart that
//! decodes, and its deltas end near the world's corrections.

use storecast_dev::tools::optimizer_plot::{HEIGHT, WIDTH};
use storecast_dev::tools::optimizer_sim::{SEED, run};

#[tokio::test]
async fn the_command_writes_every_run_to_the_csv_and_a_png_that_decodes() {
    let out = std::env::temp_dir().join(format!("optimizer-sim-{}", std::process::id()));
    let (written, error) = run(12, SEED, &out).await.unwrap();
    assert_eq!(
        written,
        vec![
            out.join("optimizer.csv"),
            out.join("optimizer-convergence.png")
        ]
    );
    assert!(error <= 0.02, "largest error after 12 runs: {error}");
    let csv = std::fs::read_to_string(&written[0]).unwrap();
    let mut lines = csv.lines();
    assert_eq!(
        lines.next(),
        Some("run,segment,value,delta,correction,samples,movement")
    );
    let rows: Vec<Vec<&str>> = lines.map(|l| l.split(',').collect()).collect();
    // 11 values (a retailer, 5 categories, 3 regions, 2 buckets), runs 0 to 12.
    assert_eq!(rows.len(), 11 * 13);
    assert!(rows.iter().all(|r| r.len() == 7));
    assert_eq!(&rows[0][..4], &["0", "retailer", "sim-grocer", "0.00000"]);
    let thin: Vec<_> = rows.iter().filter(|r| r[2] == "rare-imports").collect();
    assert!(thin.iter().all(|r| r[3] == "0.00000"));
    assert!(thin.iter().skip(1).all(|r| r[6] == "thin_data"));
    let image = image::open(&written[1]).unwrap();
    assert_eq!((image.width(), image.height()), (WIDTH, HEIGHT));
    // The error panel's red line is drawn.
    assert!(image.to_rgb8().pixels().any(|p| p.0 == [200, 40, 40]));
    std::fs::remove_dir_all(&out).unwrap();
}
