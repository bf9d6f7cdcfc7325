//! Ordering things that refer to each other (locals, lookups, module calls; server groups by
//! `depends_on`), and finding the cycles that make an order impossible.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, VecDeque};

/// The result of [`order`].
#[derive(Debug, PartialEq, Eq)]
pub struct Order {
    /// Every node that can be evaluated, each after its dependencies.
    pub order: Vec<usize>,
    /// One cycle per group of nodes that depend on each other, as the nodes along it from its
    /// first node (by index) back to just before it: `[a, b]` is a → b → a.
    pub cycles: Vec<Vec<usize>>,
}

/// Orders nodes `0..deps.len()`, where `deps[i]` are the nodes `i` depends on. Among nodes
/// that are ready at the same time the lowest `rank` comes first, so that an order asked for
/// by the caller (phases, then source order) is kept wherever dependencies allow.
///
/// Nodes on a cycle, and nodes that depend on one, are left out of `order`.
pub fn order<K: Ord>(deps: &[Vec<usize>], rank: impl Fn(usize) -> K) -> Order {
    let n = deps.len();
    let mut waiting: Vec<usize> = deps.iter().map(Vec::len).collect();
    let mut dependants: Vec<Vec<usize>> = vec![Vec::new(); n];
    for (i, ds) in deps.iter().enumerate() {
        for &d in ds {
            dependants[d].push(i);
        }
    }
    let mut ready: BinaryHeap<Reverse<(K, usize)>> = (0..n)
        .filter(|&i| waiting[i] == 0)
        .map(|i| Reverse((rank(i), i)))
        .collect();
    let mut out = Vec::with_capacity(n);
    while let Some(Reverse((_, i))) = ready.pop() {
        out.push(i);
        for &j in &dependants[i] {
            waiting[j] -= 1;
            if waiting[j] == 0 {
                ready.push(Reverse((rank(j), j)));
            }
        }
    }
    let mut done = vec![false; n];
    for &i in &out {
        done[i] = true;
    }
    let cycles = if out.len() == n {
        Vec::new()
    } else {
        cycles(deps, &done)
    };
    Order { order: out, cycles }
}

/// One cycle through each strongly connected component of the nodes not `done` that has one
/// (Tarjan's algorithm, iterative so that long chains do not exhaust the stack).
fn cycles(deps: &[Vec<usize>], done: &[bool]) -> Vec<Vec<usize>> {
    const NONE: usize = usize::MAX;
    let n = deps.len();
    let mut index = vec![NONE; n];
    let mut low = vec![0; n];
    let mut on_stack = vec![false; n];
    let mut stack = Vec::new();
    let mut next = 0;
    let mut found = Vec::new();
    // For nodes of a component found to hold a cycle: its first node.
    let mut in_component = vec![NONE; n];
    for start in (0..n).filter(|&i| !done[i]) {
        if index[start] != NONE {
            continue;
        }
        // (node, position in its dependency list)
        let mut work = vec![(start, 0)];
        index[start] = next;
        low[start] = next;
        next += 1;
        stack.push(start);
        on_stack[start] = true;
        while let Some(&mut (v, ref mut pos)) = work.last_mut() {
            if let Some(&w) = deps[v].get(*pos) {
                *pos += 1;
                if done[w] {
                    continue;
                }
                if index[w] == NONE {
                    index[w] = next;
                    low[w] = next;
                    next += 1;
                    stack.push(w);
                    on_stack[w] = true;
                    work.push((w, 0));
                } else if on_stack[w] {
                    low[v] = low[v].min(index[w]);
                }
                continue;
            }
            work.pop();
            if let Some(&(parent, _)) = work.last() {
                low[parent] = low[parent].min(low[v]);
            }
            if low[v] == index[v] {
                let mut component = Vec::new();
                loop {
                    let w = stack.pop().expect("v is on the stack");
                    on_stack[w] = false;
                    component.push(w);
                    if w == v {
                        break;
                    }
                }
                let first = *component.iter().min().expect("not empty");
                let is_cycle = component.len() > 1 || deps[first].contains(&first);
                if is_cycle {
                    for &w in &component {
                        in_component[w] = first;
                    }
                    found.push(shortest_cycle(deps, first, &in_component));
                }
            }
        }
    }
    found.sort();
    found
}

/// The shortest path from `start` back to itself within its component.
fn shortest_cycle(deps: &[Vec<usize>], start: usize, in_component: &[usize]) -> Vec<usize> {
    let inside = |i: usize| in_component[i] == start;
    let mut came_from = vec![usize::MAX; deps.len()];
    let mut queue = VecDeque::from([start]);
    while let Some(v) = queue.pop_front() {
        for &w in &deps[v] {
            if w == start {
                let mut path = vec![v];
                let mut at = v;
                while at != start {
                    at = came_from[at];
                    path.push(at);
                }
                path.reverse();
                return path;
            }
            if inside(w) && came_from[w] == usize::MAX {
                came_from[w] = v;
                queue.push_back(w);
            }
        }
    }
    vec![start]
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `(deps, order, cycles)`, with rank = index.
    type Case = (
        &'static [&'static [usize]],
        &'static [usize],
        &'static [&'static [usize]],
    );

    #[test]
    fn orders_and_finds_cycles() {
        let cases: &[Case] = &[
            (&[], &[], &[]),
            // b = a, a: a first although it comes second in the file.
            (&[&[1], &[]], &[1, 0], &[]),
            (&[&[], &[0], &[1]], &[0, 1, 2], &[]),
            // a ↔ b, c depends on the cycle, d is free.
            (&[&[1], &[0], &[0], &[]], &[3], &[&[0, 1]]),
            // a → b → c → a
            (&[&[1], &[2], &[0]], &[], &[&[0, 1, 2]]),
            // itself
            (&[&[0], &[]], &[1], &[&[0]]),
            // two separate cycles
            (&[&[1], &[0], &[3], &[2]], &[], &[&[0, 1], &[2, 3]]),
            // the shortest way back: 0 → 2 → 0 rather than 0 → 1 → 2 → 0
            (&[&[1, 2], &[2], &[0]], &[], &[&[0, 2]]),
        ];
        for (deps, want_order, want_cycles) in cases {
            let deps: Vec<Vec<usize>> = deps.iter().map(|d| d.to_vec()).collect();
            let got = order(&deps, |i| i);
            let want = Order {
                order: want_order.to_vec(),
                cycles: want_cycles.iter().map(|c| c.to_vec()).collect(),
            };
            assert_eq!(got, want, "{deps:?}");
        }
    }

    #[test]
    fn rank_decides_among_ready_nodes() {
        let deps = vec![vec![], vec![], vec![0]];
        let got = order(&deps, |i| [2, 0, 1][i]);
        assert_eq!(got.order, [1, 0, 2]);
    }

    #[test]
    fn long_chains_do_not_recurse() {
        let n = 200_000;
        let mut deps: Vec<Vec<usize>> = (0..n).map(|i| vec![(i + 1) % n]).collect();
        assert_eq!(order(&deps, |i| i).cycles.len(), 1);
        deps[n - 1].clear();
        let got = order(&deps, |i| i);
        assert_eq!(got.order.len(), n);
        assert_eq!(got.order[0], n - 1);
    }
}
