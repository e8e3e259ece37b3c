//! Small numeric helpers with the summation orders of the original's numpy/pandas calls.

use std::collections::VecDeque;

/// numpy's pairwise summation (`np.add.reduce` on a contiguous float64 array): eight
/// interleaved partial sums for blocks up to 128, halves above.
pub fn pairwise_sum(a: &[f64]) -> f64 {
    pairwise_sum_of(a, |v| v)
}

/// [`pairwise_sum`] of `f` of each value, in the same order (no array of the mapped values).
fn pairwise_sum_of(a: &[f64], f: impl Fn(f64) -> f64 + Copy) -> f64 {
    let n = a.len();
    if n < 8 {
        let mut res = 0.0;
        for v in a {
            res += f(*v);
        }
        res
    } else if n <= 128 {
        // Blocks of eight by `chunks_exact` (no bounds check in the loop), the same order.
        let (whole, rest) = a.split_at(n - n % 8);
        let mut blocks = whole.chunks_exact(8);
        let mut r = [0.0f64; 8];
        if let Some(first) = blocks.next() {
            for (slot, v) in r.iter_mut().zip(first) {
                *slot = f(*v);
            }
        }
        for block in blocks {
            for (slot, v) in r.iter_mut().zip(block) {
                *slot += f(*v);
            }
        }
        let mut res = ((r[0] + r[1]) + (r[2] + r[3])) + ((r[4] + r[5]) + (r[6] + r[7]));
        for v in rest {
            res += f(*v);
        }
        res
    } else {
        let mut half = n / 2;
        half -= half % 8;
        pairwise_sum_of(&a[..half], f) + pairwise_sum_of(&a[half..], f)
    }
}

/// Arithmetic mean.
pub fn mean(a: &[f64]) -> f64 {
    pairwise_sum(a) / a.len() as f64
}

/// Sample standard deviation (divisor n - 1), two-pass as pandas' `nanvar`.
pub fn sample_std(a: &[f64]) -> f64 {
    mean_and_sample_std(a).1
}

/// [`mean`] and [`sample_std`] of the same values, the mean computed once for both.
pub fn mean_and_sample_std(a: &[f64]) -> (f64, f64) {
    let m = mean(a);
    let square = |v: f64| {
        let d = v - m;
        d * d
    };
    (
        m,
        (pairwise_sum_of(a, square) / (a.len() - 1) as f64).sqrt(),
    )
}

/// Mean of the last `n` values, summed oldest first (the SMA of the original's rolling
/// mean). Over the deque's two slices rather than its iterator: the same additions in the
/// same order, without the iterator's per-element slice switch.
pub fn window_mean(values: &VecDeque<f64>, n: usize) -> f64 {
    let (front, back) = values.as_slices();
    let skip = values.len() - n;
    let (front, back) = if skip < front.len() {
        (&front[skip..], back)
    } else {
        (&front[..0], &back[skip - front.len()..])
    };
    let mut sum = 0.0;
    for v in front {
        sum += *v;
    }
    for v in back {
        sum += *v;
    }
    sum / n as f64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pairwise_equals_plain_sum_on_exact_values() {
        let v: Vec<f64> = (1..=300).map(f64::from).collect();
        assert_eq!(pairwise_sum(&v), 45150.0);
        assert_eq!(pairwise_sum(&v[..5]), 15.0);
        assert_eq!(pairwise_sum(&v[..20]), 210.0);
    }

    #[test]
    fn sample_std_of_known_series() {
        let v = [2.0, 4.0, 4.0, 4.0, 5.0, 5.0, 7.0, 9.0];
        assert!((sample_std(&v) - 2.138089935299395).abs() < 1e-15);
    }
}
