//! Whole-network search: every layer of a workload, identical shapes searched once, shapes in
//! parallel (each search's batches also run on the same rayon pool).

use rayon::prelude::*;

use super::{Algo, Driver, SearchConfig, SearchResult};
use crate::arch::Arch;
use crate::mapspace::{Constraints, MapSpace};
use crate::workload::{Layer, Problem};

/// One layer's outcome.
#[derive(Debug, Clone)]
pub struct LayerSearch {
    pub layer: String,
    pub repeat: u64,
    /// The earlier layer with the same shape whose search this one reuses.
    pub same_as: Option<String>,
    pub result: SearchResult,
}

/// Same loop bounds and tensors (names of the layer aside).
pub fn same_shape(a: &Problem, b: &Problem) -> bool {
    a.dim_names == b.dim_names && a.bounds == b.bounds && a.tensors == b.tensors
}

/// Searches every layer; `constraints` gives each layer's constraints (or an error message).
pub fn search_layers(
    arch: &Arch,
    layers: &[Layer],
    constraints: &(dyn Fn(&Layer) -> Result<Constraints, String> + Sync),
    algo: Algo,
    config: &SearchConfig,
) -> Result<Vec<LayerSearch>, String> {
    let mut first_of: Vec<usize> = Vec::with_capacity(layers.len());
    let mut unique: Vec<usize> = Vec::new();
    for (i, l) in layers.iter().enumerate() {
        match unique
            .iter()
            .find(|&&u| same_shape(&layers[u].problem, &l.problem))
        {
            Some(&u) => first_of.push(u),
            None => {
                unique.push(i);
                first_of.push(i);
            }
        }
    }
    let results: Vec<Result<SearchResult, String>> = unique
        .par_iter()
        .map(|&i| {
            let layer = &layers[i];
            let c = constraints(layer)?;
            let space = MapSpace::new(arch, &layer.problem, c)
                .map_err(|e| format!("layer `{}`: {e}", layer.name))?;
            let mut engine = algo
                .engine(&space)
                .map_err(|e| format!("layer `{}`: {e}", layer.name))?;
            Ok(Driver::run(&space, engine.as_mut(), config, None))
        })
        .collect();
    let mut by_layer: Vec<Option<SearchResult>> = vec![None; layers.len()];
    for (k, r) in unique.iter().zip(results) {
        by_layer[*k] = Some(r?);
    }
    let mut out = Vec::with_capacity(layers.len());
    for (i, l) in layers.iter().enumerate() {
        let src = first_of[i];
        let Some(result) = by_layer[src].clone() else {
            return Err(format!("layer `{}` was not searched", l.name));
        };
        out.push(LayerSearch {
            layer: l.name.clone(),
            repeat: l.repeat,
            same_as: (src != i).then(|| layers[src].name.clone()),
            result,
        });
    }
    Ok(out)
}
