// jvllm step program: llama hidden=8 layers=1, bucket tokens=4 seqs=2 blocks_per_seq=2, block_size=2 kv_slots=8, bf16, emitter v1
module @jvllm_step attributes {mhlo.num_partitions = 1 : i32, mhlo.num_replicas = 1 : i32} {
  func.func public @main(
      %model.embed_tokens.weight: tensor<16x8xbf16>,
      %model.layers.0.input_layernorm.weight: tensor<8xbf16>,
      %model.layers.0.self_attn.q_proj.weight: tensor<8x8xbf16>,
      %model.layers.0.self_attn.k_proj.weight: tensor<4x8xbf16>,
      %model.layers.0.self_attn.v_proj.weight: tensor<4x8xbf16>,
      %model.layers.0.self_attn.o_proj.weight: tensor<8x8xbf16>,
      %model.layers.0.post_attention_layernorm.weight: tensor<8xbf16>,
      %model.layers.0.mlp.gate_proj.weight: tensor<16x8xbf16>,
      %model.layers.0.mlp.up_proj.weight: tensor<16x8xbf16>,
      %model.layers.0.mlp.down_proj.weight: tensor<8x16xbf16>,
      %model.norm.weight: tensor<8xbf16>,
      %k_cache.0: tensor<8x1x4xbf16> {tf.aliasing_output = 1 : i32},
      %v_cache.0: tensor<8x1x4xbf16> {tf.aliasing_output = 2 : i32},
      %token_ids: tensor<4xi32>,
      %positions: tensor<4xi32>,
      %token_seq: tensor<4xi32>,
      %slot_mapping: tensor<4xi32>,
      %block_tables: tensor<2x2xi32>,
      %context_lens: tensor<2xi32>,
      %logits_indices: tensor<2xi32>,
      %temperature: tensor<2xf32>,
      %top_k: tensor<2xi32>,
      %top_p: tensor<2xf32>,
      %seeds: tensor<2xui32>)
      -> (tensor<2xi32>, tensor<8x1x4xbf16>, tensor<8x1x4xbf16>) {
    // embeddings
    %0 = "stablehlo.reshape"(%token_ids) : (tensor<4xi32>) -> tensor<4x1xi32>
    %1 = "stablehlo.gather"(%model.embed_tokens.weight, %0) {dimension_numbers = #stablehlo.gather<offset_dims = [1], collapsed_slice_dims = [0], start_index_map = [0], index_vector_dim = 1>, indices_are_sorted = false, slice_sizes = array<i64: 1, 8>} : (tensor<16x8xbf16>, tensor<4x1xi32>) -> tensor<4x8xbf16>
    %2 = "stablehlo.convert"(%1) : (tensor<4x8xbf16>) -> tensor<4x8xf32>
    // rotary tables, shared by all layers
    %3 = "stablehlo.constant"() {value = dense<[1.0, 0.01]> : tensor<2xf32>} : () -> tensor<2xf32>
    %4 = "stablehlo.convert"(%positions) : (tensor<4xi32>) -> tensor<4xf32>
    %5 = "stablehlo.broadcast_in_dim"(%4) {broadcast_dimensions = array<i64: 0>} : (tensor<4xf32>) -> tensor<4x2xf32>
    %6 = "stablehlo.broadcast_in_dim"(%3) {broadcast_dimensions = array<i64: 1>} : (tensor<2xf32>) -> tensor<4x2xf32>
    %7 = "stablehlo.multiply"(%5, %6) : (tensor<4x2xf32>, tensor<4x2xf32>) -> tensor<4x2xf32>
    %8 = "stablehlo.cosine"(%7) : (tensor<4x2xf32>) -> tensor<4x2xf32>
    %9 = "stablehlo.sine"(%7) : (tensor<4x2xf32>) -> tensor<4x2xf32>
    // attention mask: key position c is visible to a token at position p of a sequence with n cached tokens iff c <= p and c < n
    %10 = "stablehlo.iota"() {iota_dimension = 1 : i64} : () -> tensor<4x4xi32>
    %11 = "stablehlo.broadcast_in_dim"(%positions) {broadcast_dimensions = array<i64: 0>} : (tensor<4xi32>) -> tensor<4x4xi32>
    %12 = "stablehlo.compare"(%10, %11) {comparison_direction = #stablehlo<comparison_direction LE>} : (tensor<4x4xi32>, tensor<4x4xi32>) -> tensor<4x4xi1>
    %13 = "stablehlo.reshape"(%token_seq) : (tensor<4xi32>) -> tensor<4x1xi32>
    %14 = "stablehlo.gather"(%context_lens, %13) {dimension_numbers = #stablehlo.gather<collapsed_slice_dims = [0], start_index_map = [0], index_vector_dim = 1>, indices_are_sorted = false, slice_sizes = array<i64: 1>} : (tensor<2xi32>, tensor<4x1xi32>) -> tensor<4xi32>
    %15 = "stablehlo.broadcast_in_dim"(%14) {broadcast_dimensions = array<i64: 0>} : (tensor<4xi32>) -> tensor<4x4xi32>
    %16 = "stablehlo.compare"(%10, %15) {comparison_direction = #stablehlo<comparison_direction LT>} : (tensor<4x4xi32>, tensor<4x4xi32>) -> tensor<4x4xi1>
    %17 = "stablehlo.and"(%12, %16) : (tensor<4x4xi1>, tensor<4x4xi1>) -> tensor<4x4xi1>
    %18 = "stablehlo.constant"() {value = dense<0.0> : tensor<4x4xf32>} : () -> tensor<4x4xf32>
    %19 = "stablehlo.constant"() {value = dense<-1.0E30> : tensor<4x4xf32>} : () -> tensor<4x4xf32>
    %20 = "stablehlo.select"(%17, %18, %19) : (tensor<4x4xi1>, tensor<4x4xf32>, tensor<4x4xf32>) -> tensor<4x4xf32>
    // KV slots each token attends to: its sequence's block table, expanded to slots
    %21 = "stablehlo.reshape"(%token_seq) : (tensor<4xi32>) -> tensor<4x1xi32>
    %22 = "stablehlo.gather"(%block_tables, %21) {dimension_numbers = #stablehlo.gather<offset_dims = [1], collapsed_slice_dims = [0], start_index_map = [0], index_vector_dim = 1>, indices_are_sorted = false, slice_sizes = array<i64: 1, 2>} : (tensor<2x2xi32>, tensor<4x1xi32>) -> tensor<4x2xi32>
    %23 = "stablehlo.broadcast_in_dim"(%22) {broadcast_dimensions = array<i64: 0, 1>} : (tensor<4x2xi32>) -> tensor<4x2x2xi32>
    %24 = "stablehlo.constant"() {value = dense<2> : tensor<4x2x2xi32>} : () -> tensor<4x2x2xi32>
    %25 = "stablehlo.multiply"(%23, %24) : (tensor<4x2x2xi32>, tensor<4x2x2xi32>) -> tensor<4x2x2xi32>
    %26 = "stablehlo.iota"() {iota_dimension = 2 : i64} : () -> tensor<4x2x2xi32>
    %27 = "stablehlo.add"(%25, %26) : (tensor<4x2x2xi32>, tensor<4x2x2xi32>) -> tensor<4x2x2xi32>
    %28 = "stablehlo.reshape"(%27) : (tensor<4x2x2xi32>) -> tensor<4x4xi32>
    // layer 0: attention
    %29 = "stablehlo.multiply"(%2, %2) : (tensor<4x8xf32>, tensor<4x8xf32>) -> tensor<4x8xf32>
    %30 = "stablehlo.constant"() {value = dense<0.0> : tensor<f32>} : () -> tensor<f32>
    %31 = "stablehlo.reduce"(%29, %30) ({
    ^bb0(%32: tensor<f32>, %33: tensor<f32>):
      %34 = "stablehlo.add"(%32, %33) : (tensor<f32>, tensor<f32>) -> tensor<f32>
      "stablehlo.return"(%34) : (tensor<f32>) -> ()
    }) {dimensions = array<i64: 1>} : (tensor<4x8xf32>, tensor<f32>) -> tensor<4xf32>
    %35 = "stablehlo.constant"() {value = dense<8.0> : tensor<4xf32>} : () -> tensor<4xf32>
    %36 = "stablehlo.divide"(%31, %35) : (tensor<4xf32>, tensor<4xf32>) -> tensor<4xf32>
    %37 = "stablehlo.constant"() {value = dense<1.0E-5> : tensor<4xf32>} : () -> tensor<4xf32>
    %38 = "stablehlo.add"(%36, %37) : (tensor<4xf32>, tensor<4xf32>) -> tensor<4xf32>
    %39 = "stablehlo.rsqrt"(%38) : (tensor<4xf32>) -> tensor<4xf32>
    %40 = "stablehlo.broadcast_in_dim"(%39) {broadcast_dimensions = array<i64: 0>} : (tensor<4xf32>) -> tensor<4x8xf32>
    %41 = "stablehlo.multiply"(%2, %40) : (tensor<4x8xf32>, tensor<4x8xf32>) -> tensor<4x8xf32>
    %42 = "stablehlo.convert"(%model.layers.0.input_layernorm.weight) : (tensor<8xbf16>) -> tensor<8xf32>
    %43 = "stablehlo.broadcast_in_dim"(%42) {broadcast_dimensions = array<i64: 1>} : (tensor<8xf32>) -> tensor<4x8xf32>
    %44 = "stablehlo.multiply"(%41, %43) : (tensor<4x8xf32>, tensor<4x8xf32>) -> tensor<4x8xf32>
    %45 = "stablehlo.convert"(%44) : (tensor<4x8xf32>) -> tensor<4x8xbf16>
    %46 = "stablehlo.dot_general"(%45, %model.layers.0.self_attn.q_proj.weight) {dot_dimension_numbers = #stablehlo.dot<lhs_contracting_dimensions = [1], rhs_contracting_dimensions = [1]>} : (tensor<4x8xbf16>, tensor<8x8xbf16>) -> tensor<4x8xf32>
    %47 = "stablehlo.dot_general"(%45, %model.layers.0.self_attn.k_proj.weight) {dot_dimension_numbers = #stablehlo.dot<lhs_contracting_dimensions = [1], rhs_contracting_dimensions = [1]>} : (tensor<4x8xbf16>, tensor<4x8xbf16>) -> tensor<4x4xf32>
    %48 = "stablehlo.dot_general"(%45, %model.layers.0.self_attn.v_proj.weight) {dot_dimension_numbers = #stablehlo.dot<lhs_contracting_dimensions = [1], rhs_contracting_dimensions = [1]>} : (tensor<4x8xbf16>, tensor<4x8xbf16>) -> tensor<4x4xf32>
    %49 = "stablehlo.reshape"(%46) : (tensor<4x8xf32>) -> tensor<4x2x4xf32>
    %50 = "stablehlo.reshape"(%47) : (tensor<4x4xf32>) -> tensor<4x1x4xf32>
    %51 = "stablehlo.reshape"(%48) : (tensor<4x4xf32>) -> tensor<4x1x4xf32>
    %52 = "stablehlo.slice"(%49) {start_indices = array<i64: 0, 0, 0>, limit_indices = array<i64: 4, 2, 2>, strides = array<i64: 1, 1, 1>} : (tensor<4x2x4xf32>) -> tensor<4x2x2xf32>
    %53 = "stablehlo.slice"(%49) {start_indices = array<i64: 0, 0, 2>, limit_indices = array<i64: 4, 2, 4>, strides = array<i64: 1, 1, 1>} : (tensor<4x2x4xf32>) -> tensor<4x2x2xf32>
    %54 = "stablehlo.broadcast_in_dim"(%8) {broadcast_dimensions = array<i64: 0, 2>} : (tensor<4x2xf32>) -> tensor<4x2x2xf32>
    %55 = "stablehlo.broadcast_in_dim"(%9) {broadcast_dimensions = array<i64: 0, 2>} : (tensor<4x2xf32>) -> tensor<4x2x2xf32>
    %56 = "stablehlo.multiply"(%52, %54) : (tensor<4x2x2xf32>, tensor<4x2x2xf32>) -> tensor<4x2x2xf32>
    %57 = "stablehlo.multiply"(%53, %55) : (tensor<4x2x2xf32>, tensor<4x2x2xf32>) -> tensor<4x2x2xf32>
    %58 = "stablehlo.subtract"(%56, %57) : (tensor<4x2x2xf32>, tensor<4x2x2xf32>) -> tensor<4x2x2xf32>
    %59 = "stablehlo.multiply"(%53, %54) : (tensor<4x2x2xf32>, tensor<4x2x2xf32>) -> tensor<4x2x2xf32>
    %60 = "stablehlo.multiply"(%52, %55) : (tensor<4x2x2xf32>, tensor<4x2x2xf32>) -> tensor<4x2x2xf32>
    %61 = "stablehlo.add"(%59, %60) : (tensor<4x2x2xf32>, tensor<4x2x2xf32>) -> tensor<4x2x2xf32>
    %62 = "stablehlo.concatenate"(%58, %61) {dimension = 2 : i64} : (tensor<4x2x2xf32>, tensor<4x2x2xf32>) -> tensor<4x2x4xf32>
    %63 = "stablehlo.slice"(%50) {start_indices = array<i64: 0, 0, 0>, limit_indices = array<i64: 4, 1, 2>, strides = array<i64: 1, 1, 1>} : (tensor<4x1x4xf32>) -> tensor<4x1x2xf32>
    %64 = "stablehlo.slice"(%50) {start_indices = array<i64: 0, 0, 2>, limit_indices = array<i64: 4, 1, 4>, strides = array<i64: 1, 1, 1>} : (tensor<4x1x4xf32>) -> tensor<4x1x2xf32>
    %65 = "stablehlo.broadcast_in_dim"(%8) {broadcast_dimensions = array<i64: 0, 2>} : (tensor<4x2xf32>) -> tensor<4x1x2xf32>
    %66 = "stablehlo.broadcast_in_dim"(%9) {broadcast_dimensions = array<i64: 0, 2>} : (tensor<4x2xf32>) -> tensor<4x1x2xf32>
    %67 = "stablehlo.multiply"(%63, %65) : (tensor<4x1x2xf32>, tensor<4x1x2xf32>) -> tensor<4x1x2xf32>
    %68 = "stablehlo.multiply"(%64, %66) : (tensor<4x1x2xf32>, tensor<4x1x2xf32>) -> tensor<4x1x2xf32>
    %69 = "stablehlo.subtract"(%67, %68) : (tensor<4x1x2xf32>, tensor<4x1x2xf32>) -> tensor<4x1x2xf32>
    %70 = "stablehlo.multiply"(%64, %65) : (tensor<4x1x2xf32>, tensor<4x1x2xf32>) -> tensor<4x1x2xf32>
    %71 = "stablehlo.multiply"(%63, %66) : (tensor<4x1x2xf32>, tensor<4x1x2xf32>) -> tensor<4x1x2xf32>
    %72 = "stablehlo.add"(%70, %71) : (tensor<4x1x2xf32>, tensor<4x1x2xf32>) -> tensor<4x1x2xf32>
    %73 = "stablehlo.concatenate"(%69, %72) {dimension = 2 : i64} : (tensor<4x1x2xf32>, tensor<4x1x2xf32>) -> tensor<4x1x4xf32>
    %74 = "stablehlo.convert"(%73) : (tensor<4x1x4xf32>) -> tensor<4x1x4xbf16>
    %75 = "stablehlo.reshape"(%slot_mapping) : (tensor<4xi32>) -> tensor<4x1xi32>
    %76 = "stablehlo.scatter"(%k_cache.0, %75, %74) ({
    ^bb0(%77: tensor<bf16>, %78: tensor<bf16>):
      "stablehlo.return"(%78) : (tensor<bf16>) -> ()
    }) {indices_are_sorted = false, scatter_dimension_numbers = #stablehlo.scatter<update_window_dims = [1, 2], inserted_window_dims = [0], scatter_dims_to_operand_dims = [0], index_vector_dim = 1>, unique_indices = false} : (tensor<8x1x4xbf16>, tensor<4x1xi32>, tensor<4x1x4xbf16>) -> tensor<8x1x4xbf16>
    %79 = "stablehlo.convert"(%51) : (tensor<4x1x4xf32>) -> tensor<4x1x4xbf16>
    %80 = "stablehlo.reshape"(%slot_mapping) : (tensor<4xi32>) -> tensor<4x1xi32>
    %81 = "stablehlo.scatter"(%v_cache.0, %80, %79) ({
    ^bb0(%82: tensor<bf16>, %83: tensor<bf16>):
      "stablehlo.return"(%83) : (tensor<bf16>) -> ()
    }) {indices_are_sorted = false, scatter_dimension_numbers = #stablehlo.scatter<update_window_dims = [1, 2], inserted_window_dims = [0], scatter_dims_to_operand_dims = [0], index_vector_dim = 1>, unique_indices = false} : (tensor<8x1x4xbf16>, tensor<4x1xi32>, tensor<4x1x4xbf16>) -> tensor<8x1x4xbf16>
    %84 = "stablehlo.reshape"(%62) : (tensor<4x2x4xf32>) -> tensor<4x1x2x4xf32>
    %85 = "stablehlo.convert"(%84) : (tensor<4x1x2x4xf32>) -> tensor<4x1x2x4xbf16>
    %86 = "stablehlo.reshape"(%28) : (tensor<4x4xi32>) -> tensor<4x4x1xi32>
    %87 = "stablehlo.gather"(%76, %86) {dimension_numbers = #stablehlo.gather<offset_dims = [2, 3], collapsed_slice_dims = [0], start_index_map = [0], index_vector_dim = 2>, indices_are_sorted = false, slice_sizes = array<i64: 1, 1, 4>} : (tensor<8x1x4xbf16>, tensor<4x4x1xi32>) -> tensor<4x4x1x4xbf16>
    %88 = "stablehlo.reshape"(%28) : (tensor<4x4xi32>) -> tensor<4x4x1xi32>
    %89 = "stablehlo.gather"(%81, %88) {dimension_numbers = #stablehlo.gather<offset_dims = [2, 3], collapsed_slice_dims = [0], start_index_map = [0], index_vector_dim = 2>, indices_are_sorted = false, slice_sizes = array<i64: 1, 1, 4>} : (tensor<8x1x4xbf16>, tensor<4x4x1xi32>) -> tensor<4x4x1x4xbf16>
    %90 = "stablehlo.dot_general"(%85, %87) {dot_dimension_numbers = #stablehlo.dot<lhs_batching_dimensions = [0, 1], rhs_batching_dimensions = [0, 2], lhs_contracting_dimensions = [3], rhs_contracting_dimensions = [3]>} : (tensor<4x1x2x4xbf16>, tensor<4x4x1x4xbf16>) -> tensor<4x1x2x4xf32>
    %91 = "stablehlo.constant"() {value = dense<0.5> : tensor<4x1x2x4xf32>} : () -> tensor<4x1x2x4xf32>
    %92 = "stablehlo.multiply"(%90, %91) : (tensor<4x1x2x4xf32>, tensor<4x1x2x4xf32>) -> tensor<4x1x2x4xf32>
    %93 = "stablehlo.broadcast_in_dim"(%20) {broadcast_dimensions = array<i64: 0, 3>} : (tensor<4x4xf32>) -> tensor<4x1x2x4xf32>
    %94 = "stablehlo.add"(%92, %93) : (tensor<4x1x2x4xf32>, tensor<4x1x2x4xf32>) -> tensor<4x1x2x4xf32>
    %95 = "stablehlo.constant"() {value = dense<-1.0E30> : tensor<f32>} : () -> tensor<f32>
    %96 = "stablehlo.reduce"(%94, %95) ({
    ^bb0(%97: tensor<f32>, %98: tensor<f32>):
      %99 = "stablehlo.maximum"(%97, %98) : (tensor<f32>, tensor<f32>) -> tensor<f32>
      "stablehlo.return"(%99) : (tensor<f32>) -> ()
    }) {dimensions = array<i64: 3>} : (tensor<4x1x2x4xf32>, tensor<f32>) -> tensor<4x1x2xf32>
    %100 = "stablehlo.broadcast_in_dim"(%96) {broadcast_dimensions = array<i64: 0, 1, 2>} : (tensor<4x1x2xf32>) -> tensor<4x1x2x4xf32>
    %101 = "stablehlo.subtract"(%94, %100) : (tensor<4x1x2x4xf32>, tensor<4x1x2x4xf32>) -> tensor<4x1x2x4xf32>
    %102 = "stablehlo.exponential"(%101) : (tensor<4x1x2x4xf32>) -> tensor<4x1x2x4xf32>
    %103 = "stablehlo.constant"() {value = dense<0.0> : tensor<f32>} : () -> tensor<f32>
    %104 = "stablehlo.reduce"(%102, %103) ({
    ^bb0(%105: tensor<f32>, %106: tensor<f32>):
      %107 = "stablehlo.add"(%105, %106) : (tensor<f32>, tensor<f32>) -> tensor<f32>
      "stablehlo.return"(%107) : (tensor<f32>) -> ()
    }) {dimensions = array<i64: 3>} : (tensor<4x1x2x4xf32>, tensor<f32>) -> tensor<4x1x2xf32>
    %108 = "stablehlo.broadcast_in_dim"(%104) {broadcast_dimensions = array<i64: 0, 1, 2>} : (tensor<4x1x2xf32>) -> tensor<4x1x2x4xf32>
    %109 = "stablehlo.divide"(%102, %108) : (tensor<4x1x2x4xf32>, tensor<4x1x2x4xf32>) -> tensor<4x1x2x4xf32>
    %110 = "stablehlo.convert"(%109) : (tensor<4x1x2x4xf32>) -> tensor<4x1x2x4xbf16>
    %111 = "stablehlo.dot_general"(%110, %89) {dot_dimension_numbers = #stablehlo.dot<lhs_batching_dimensions = [0, 1], rhs_batching_dimensions = [0, 2], lhs_contracting_dimensions = [3], rhs_contracting_dimensions = [1]>} : (tensor<4x1x2x4xbf16>, tensor<4x4x1x4xbf16>) -> tensor<4x1x2x4xf32>
    %112 = "stablehlo.reshape"(%111) : (tensor<4x1x2x4xf32>) -> tensor<4x8xf32>
    %113 = "stablehlo.convert"(%112) : (tensor<4x8xf32>) -> tensor<4x8xbf16>
    %114 = "stablehlo.dot_general"(%113, %model.layers.0.self_attn.o_proj.weight) {dot_dimension_numbers = #stablehlo.dot<lhs_contracting_dimensions = [1], rhs_contracting_dimensions = [1]>} : (tensor<4x8xbf16>, tensor<8x8xbf16>) -> tensor<4x8xf32>
    %115 = "stablehlo.add"(%2, %114) : (tensor<4x8xf32>, tensor<4x8xf32>) -> tensor<4x8xf32>
    // layer 0: SwiGLU MLP
    %116 = "stablehlo.multiply"(%115, %115) : (tensor<4x8xf32>, tensor<4x8xf32>) -> tensor<4x8xf32>
    %117 = "stablehlo.constant"() {value = dense<0.0> : tensor<f32>} : () -> tensor<f32>
    %118 = "stablehlo.reduce"(%116, %117) ({
    ^bb0(%119: tensor<f32>, %120: tensor<f32>):
      %121 = "stablehlo.add"(%119, %120) : (tensor<f32>, tensor<f32>) -> tensor<f32>
      "stablehlo.return"(%121) : (tensor<f32>) -> ()
    }) {dimensions = array<i64: 1>} : (tensor<4x8xf32>, tensor<f32>) -> tensor<4xf32>
    %122 = "stablehlo.constant"() {value = dense<8.0> : tensor<4xf32>} : () -> tensor<4xf32>
    %123 = "stablehlo.divide"(%118, %122) : (tensor<4xf32>, tensor<4xf32>) -> tensor<4xf32>
    %124 = "stablehlo.constant"() {value = dense<1.0E-5> : tensor<4xf32>} : () -> tensor<4xf32>
    %125 = "stablehlo.add"(%123, %124) : (tensor<4xf32>, tensor<4xf32>) -> tensor<4xf32>
    %126 = "stablehlo.rsqrt"(%125) : (tensor<4xf32>) -> tensor<4xf32>
    %127 = "stablehlo.broadcast_in_dim"(%126) {broadcast_dimensions = array<i64: 0>} : (tensor<4xf32>) -> tensor<4x8xf32>
    %128 = "stablehlo.multiply"(%115, %127) : (tensor<4x8xf32>, tensor<4x8xf32>) -> tensor<4x8xf32>
    %129 = "stablehlo.convert"(%model.layers.0.post_attention_layernorm.weight) : (tensor<8xbf16>) -> tensor<8xf32>
    %130 = "stablehlo.broadcast_in_dim"(%129) {broadcast_dimensions = array<i64: 1>} : (tensor<8xf32>) -> tensor<4x8xf32>
    %131 = "stablehlo.multiply"(%128, %130) : (tensor<4x8xf32>, tensor<4x8xf32>) -> tensor<4x8xf32>
    %132 = "stablehlo.convert"(%131) : (tensor<4x8xf32>) -> tensor<4x8xbf16>
    %133 = "stablehlo.dot_general"(%132, %model.layers.0.mlp.gate_proj.weight) {dot_dimension_numbers = #stablehlo.dot<lhs_contracting_dimensions = [1], rhs_contracting_dimensions = [1]>} : (tensor<4x8xbf16>, tensor<16x8xbf16>) -> tensor<4x16xf32>
    %134 = "stablehlo.dot_general"(%132, %model.layers.0.mlp.up_proj.weight) {dot_dimension_numbers = #stablehlo.dot<lhs_contracting_dimensions = [1], rhs_contracting_dimensions = [1]>} : (tensor<4x8xbf16>, tensor<16x8xbf16>) -> tensor<4x16xf32>
    %135 = "stablehlo.logistic"(%133) : (tensor<4x16xf32>) -> tensor<4x16xf32>
    %136 = "stablehlo.multiply"(%133, %135) : (tensor<4x16xf32>, tensor<4x16xf32>) -> tensor<4x16xf32>
    %137 = "stablehlo.multiply"(%136, %134) : (tensor<4x16xf32>, tensor<4x16xf32>) -> tensor<4x16xf32>
    %138 = "stablehlo.convert"(%137) : (tensor<4x16xf32>) -> tensor<4x16xbf16>
    %139 = "stablehlo.dot_general"(%138, %model.layers.0.mlp.down_proj.weight) {dot_dimension_numbers = #stablehlo.dot<lhs_contracting_dimensions = [1], rhs_contracting_dimensions = [1]>} : (tensor<4x16xbf16>, tensor<8x16xbf16>) -> tensor<4x8xf32>
    %140 = "stablehlo.add"(%115, %139) : (tensor<4x8xf32>, tensor<4x8xf32>) -> tensor<4x8xf32>
    // logits for each sequence's last fed token
    %141 = "stablehlo.reshape"(%logits_indices) : (tensor<2xi32>) -> tensor<2x1xi32>
    %142 = "stablehlo.gather"(%140, %141) {dimension_numbers = #stablehlo.gather<offset_dims = [1], collapsed_slice_dims = [0], start_index_map = [0], index_vector_dim = 1>, indices_are_sorted = false, slice_sizes = array<i64: 1, 8>} : (tensor<4x8xf32>, tensor<2x1xi32>) -> tensor<2x8xf32>
    %143 = "stablehlo.multiply"(%142, %142) : (tensor<2x8xf32>, tensor<2x8xf32>) -> tensor<2x8xf32>
    %144 = "stablehlo.constant"() {value = dense<0.0> : tensor<f32>} : () -> tensor<f32>
    %145 = "stablehlo.reduce"(%143, %144) ({
    ^bb0(%146: tensor<f32>, %147: tensor<f32>):
      %148 = "stablehlo.add"(%146, %147) : (tensor<f32>, tensor<f32>) -> tensor<f32>
      "stablehlo.return"(%148) : (tensor<f32>) -> ()
    }) {dimensions = array<i64: 1>} : (tensor<2x8xf32>, tensor<f32>) -> tensor<2xf32>
    %149 = "stablehlo.constant"() {value = dense<8.0> : tensor<2xf32>} : () -> tensor<2xf32>
    %150 = "stablehlo.divide"(%145, %149) : (tensor<2xf32>, tensor<2xf32>) -> tensor<2xf32>
    %151 = "stablehlo.constant"() {value = dense<1.0E-5> : tensor<2xf32>} : () -> tensor<2xf32>
    %152 = "stablehlo.add"(%150, %151) : (tensor<2xf32>, tensor<2xf32>) -> tensor<2xf32>
    %153 = "stablehlo.rsqrt"(%152) : (tensor<2xf32>) -> tensor<2xf32>
    %154 = "stablehlo.broadcast_in_dim"(%153) {broadcast_dimensions = array<i64: 0>} : (tensor<2xf32>) -> tensor<2x8xf32>
    %155 = "stablehlo.multiply"(%142, %154) : (tensor<2x8xf32>, tensor<2x8xf32>) -> tensor<2x8xf32>
    %156 = "stablehlo.convert"(%model.norm.weight) : (tensor<8xbf16>) -> tensor<8xf32>
    %157 = "stablehlo.broadcast_in_dim"(%156) {broadcast_dimensions = array<i64: 1>} : (tensor<8xf32>) -> tensor<2x8xf32>
    %158 = "stablehlo.multiply"(%155, %157) : (tensor<2x8xf32>, tensor<2x8xf32>) -> tensor<2x8xf32>
    %159 = "stablehlo.convert"(%158) : (tensor<2x8xf32>) -> tensor<2x8xbf16>
    %160 = "stablehlo.dot_general"(%159, %model.embed_tokens.weight) {dot_dimension_numbers = #stablehlo.dot<lhs_contracting_dimensions = [1], rhs_contracting_dimensions = [1]>} : (tensor<2x8xbf16>, tensor<16x8xbf16>) -> tensor<2x16xf32>
    %161 = "stablehlo.reshape"(%logits_indices) : (tensor<2xi32>) -> tensor<2x1xi32>
    %162 = "stablehlo.gather"(%positions, %161) {dimension_numbers = #stablehlo.gather<collapsed_slice_dims = [0], start_index_map = [0], index_vector_dim = 1>, indices_are_sorted = false, slice_sizes = array<i64: 1>} : (tensor<4xi32>, tensor<2x1xi32>) -> tensor<2xi32>
    // sampling
    %163 = "stablehlo.constant"() {value = dense<-1.0E31> : tensor<f32>} : () -> tensor<f32>
    %164 = "stablehlo.reduce"(%160, %163) ({
    ^bb0(%165: tensor<f32>, %166: tensor<f32>):
      %167 = "stablehlo.maximum"(%165, %166) : (tensor<f32>, tensor<f32>) -> tensor<f32>
      "stablehlo.return"(%167) : (tensor<f32>) -> ()
    }) {dimensions = array<i64: 1>} : (tensor<2x16xf32>, tensor<f32>) -> tensor<2xf32>
    %168 = "stablehlo.broadcast_in_dim"(%164) {broadcast_dimensions = array<i64: 0>} : (tensor<2xf32>) -> tensor<2x16xf32>
    %169 = "stablehlo.compare"(%160, %168) {comparison_direction = #stablehlo<comparison_direction EQ>} : (tensor<2x16xf32>, tensor<2x16xf32>) -> tensor<2x16xi1>
    %170 = "stablehlo.iota"() {iota_dimension = 1 : i64} : () -> tensor<2x16xi32>
    %171 = "stablehlo.constant"() {value = dense<16> : tensor<2x16xi32>} : () -> tensor<2x16xi32>
    %172 = "stablehlo.select"(%169, %170, %171) : (tensor<2x16xi1>, tensor<2x16xi32>, tensor<2x16xi32>) -> tensor<2x16xi32>
    %173 = "stablehlo.constant"() {value = dense<16> : tensor<i32>} : () -> tensor<i32>
    %174 = "stablehlo.reduce"(%172, %173) ({
    ^bb0(%175: tensor<i32>, %176: tensor<i32>):
      %177 = "stablehlo.minimum"(%175, %176) : (tensor<i32>, tensor<i32>) -> tensor<i32>
      "stablehlo.return"(%177) : (tensor<i32>) -> ()
    }) {dimensions = array<i64: 1>} : (tensor<2x16xi32>, tensor<i32>) -> tensor<2xi32>
    %178 = "stablehlo.constant"() {value = dense<1.0E-6> : tensor<2xf32>} : () -> tensor<2xf32>
    %179 = "stablehlo.maximum"(%temperature, %178) : (tensor<2xf32>, tensor<2xf32>) -> tensor<2xf32>
    %180 = "stablehlo.broadcast_in_dim"(%179) {broadcast_dimensions = array<i64: 0>} : (tensor<2xf32>) -> tensor<2x16xf32>
    %181 = "stablehlo.divide"(%160, %180) : (tensor<2x16xf32>, tensor<2x16xf32>) -> tensor<2x16xf32>
    %182 = "stablehlo.sort"(%181) ({
    ^bb0(%183: tensor<f32>, %184: tensor<f32>):
      %185 = "stablehlo.compare"(%183, %184) {comparison_direction = #stablehlo<comparison_direction GT>} : (tensor<f32>, tensor<f32>) -> tensor<i1>
      "stablehlo.return"(%185) : (tensor<i1>) -> ()
    }) {dimension = 1 : i64, is_stable = true} : (tensor<2x16xf32>) -> tensor<2x16xf32>
    %186 = "stablehlo.iota"() {iota_dimension = 1 : i64} : () -> tensor<2x16xi32>
    %187 = "stablehlo.constant"() {value = dense<0> : tensor<2xi32>} : () -> tensor<2xi32>
    %188 = "stablehlo.compare"(%top_k, %187) {comparison_direction = #stablehlo<comparison_direction LE>} : (tensor<2xi32>, tensor<2xi32>) -> tensor<2xi1>
    %189 = "stablehlo.constant"() {value = dense<16> : tensor<2xi32>} : () -> tensor<2xi32>
    %190 = "stablehlo.select"(%188, %189, %top_k) : (tensor<2xi1>, tensor<2xi32>, tensor<2xi32>) -> tensor<2xi32>
    %191 = "stablehlo.broadcast_in_dim"(%190) {broadcast_dimensions = array<i64: 0>} : (tensor<2xi32>) -> tensor<2x16xi32>
    %192 = "stablehlo.compare"(%186, %191) {comparison_direction = #stablehlo<comparison_direction LT>} : (tensor<2x16xi32>, tensor<2x16xi32>) -> tensor<2x16xi1>
    %193 = "stablehlo.constant"() {value = dense<-1.0E30> : tensor<2x16xf32>} : () -> tensor<2x16xf32>
    %194 = "stablehlo.select"(%192, %182, %193) : (tensor<2x16xi1>, tensor<2x16xf32>, tensor<2x16xf32>) -> tensor<2x16xf32>
    %195 = "stablehlo.constant"() {value = dense<-1.0E30> : tensor<f32>} : () -> tensor<f32>
    %196 = "stablehlo.reduce"(%194, %195) ({
    ^bb0(%197: tensor<f32>, %198: tensor<f32>):
      %199 = "stablehlo.maximum"(%197, %198) : (tensor<f32>, tensor<f32>) -> tensor<f32>
      "stablehlo.return"(%199) : (tensor<f32>) -> ()
    }) {dimensions = array<i64: 1>} : (tensor<2x16xf32>, tensor<f32>) -> tensor<2xf32>
    %200 = "stablehlo.broadcast_in_dim"(%196) {broadcast_dimensions = array<i64: 0>} : (tensor<2xf32>) -> tensor<2x16xf32>
    %201 = "stablehlo.subtract"(%194, %200) : (tensor<2x16xf32>, tensor<2x16xf32>) -> tensor<2x16xf32>
    %202 = "stablehlo.exponential"(%201) : (tensor<2x16xf32>) -> tensor<2x16xf32>
    %203 = "stablehlo.constant"() {value = dense<0.0> : tensor<f32>} : () -> tensor<f32>
    %204 = "stablehlo.reduce"(%202, %203) ({
    ^bb0(%205: tensor<f32>, %206: tensor<f32>):
      %207 = "stablehlo.add"(%205, %206) : (tensor<f32>, tensor<f32>) -> tensor<f32>
      "stablehlo.return"(%207) : (tensor<f32>) -> ()
    }) {dimensions = array<i64: 1>} : (tensor<2x16xf32>, tensor<f32>) -> tensor<2xf32>
    %208 = "stablehlo.broadcast_in_dim"(%204) {broadcast_dimensions = array<i64: 0>} : (tensor<2xf32>) -> tensor<2x16xf32>
    %209 = "stablehlo.divide"(%202, %208) : (tensor<2x16xf32>, tensor<2x16xf32>) -> tensor<2x16xf32>
    %210 = "stablehlo.constant"() {value = dense<0.0> : tensor<f32>} : () -> tensor<f32>
    %211 = "stablehlo.pad"(%209, %210) {edge_padding_low = array<i64: 0, 1>, edge_padding_high = array<i64: 0, -1>, interior_padding = array<i64: 0, 0>} : (tensor<2x16xf32>, tensor<f32>) -> tensor<2x16xf32>
    %212 = "stablehlo.add"(%209, %211) : (tensor<2x16xf32>, tensor<2x16xf32>) -> tensor<2x16xf32>
    %213 = "stablehlo.pad"(%212, %210) {edge_padding_low = array<i64: 0, 2>, edge_padding_high = array<i64: 0, -2>, interior_padding = array<i64: 0, 0>} : (tensor<2x16xf32>, tensor<f32>) -> tensor<2x16xf32>
    %214 = "stablehlo.add"(%212, %213) : (tensor<2x16xf32>, tensor<2x16xf32>) -> tensor<2x16xf32>
    %215 = "stablehlo.pad"(%214, %210) {edge_padding_low = array<i64: 0, 4>, edge_padding_high = array<i64: 0, -4>, interior_padding = array<i64: 0, 0>} : (tensor<2x16xf32>, tensor<f32>) -> tensor<2x16xf32>
    %216 = "stablehlo.add"(%214, %215) : (tensor<2x16xf32>, tensor<2x16xf32>) -> tensor<2x16xf32>
    %217 = "stablehlo.pad"(%216, %210) {edge_padding_low = array<i64: 0, 8>, edge_padding_high = array<i64: 0, -8>, interior_padding = array<i64: 0, 0>} : (tensor<2x16xf32>, tensor<f32>) -> tensor<2x16xf32>
    %218 = "stablehlo.add"(%216, %217) : (tensor<2x16xf32>, tensor<2x16xf32>) -> tensor<2x16xf32>
    %219 = "stablehlo.subtract"(%218, %209) : (tensor<2x16xf32>, tensor<2x16xf32>) -> tensor<2x16xf32>
    %220 = "stablehlo.broadcast_in_dim"(%top_p) {broadcast_dimensions = array<i64: 0>} : (tensor<2xf32>) -> tensor<2x16xf32>
    %221 = "stablehlo.compare"(%219, %220) {comparison_direction = #stablehlo<comparison_direction LT>} : (tensor<2x16xf32>, tensor<2x16xf32>) -> tensor<2x16xi1>
    %222 = "stablehlo.and"(%192, %221) : (tensor<2x16xi1>, tensor<2x16xi1>) -> tensor<2x16xi1>
    %223 = "stablehlo.constant"() {value = dense<1.0E30> : tensor<2x16xf32>} : () -> tensor<2x16xf32>
    %224 = "stablehlo.select"(%222, %182, %223) : (tensor<2x16xi1>, tensor<2x16xf32>, tensor<2x16xf32>) -> tensor<2x16xf32>
    %225 = "stablehlo.constant"() {value = dense<1.0E30> : tensor<f32>} : () -> tensor<f32>
    %226 = "stablehlo.reduce"(%224, %225) ({
    ^bb0(%227: tensor<f32>, %228: tensor<f32>):
      %229 = "stablehlo.minimum"(%227, %228) : (tensor<f32>, tensor<f32>) -> tensor<f32>
      "stablehlo.return"(%229) : (tensor<f32>) -> ()
    }) {dimensions = array<i64: 1>} : (tensor<2x16xf32>, tensor<f32>) -> tensor<2xf32>
    %230 = "stablehlo.broadcast_in_dim"(%226) {broadcast_dimensions = array<i64: 0>} : (tensor<2xf32>) -> tensor<2x16xf32>
    %231 = "stablehlo.compare"(%181, %230) {comparison_direction = #stablehlo<comparison_direction GE>} : (tensor<2x16xf32>, tensor<2x16xf32>) -> tensor<2x16xi1>
    %232 = "stablehlo.select"(%231, %181, %193) : (tensor<2x16xi1>, tensor<2x16xf32>, tensor<2x16xf32>) -> tensor<2x16xf32>
    %233 = "stablehlo.broadcast_in_dim"(%162) {broadcast_dimensions = array<i64: 0>} : (tensor<2xi32>) -> tensor<2x16xi32>
    %234 = "stablehlo.convert"(%233) : (tensor<2x16xi32>) -> tensor<2x16xui32>
    %235 = "stablehlo.broadcast_in_dim"(%seeds) {broadcast_dimensions = array<i64: 0>} : (tensor<2xui32>) -> tensor<2x16xui32>
    %236 = "stablehlo.iota"() {iota_dimension = 1 : i64} : () -> tensor<2x16xi32>
    %237 = "stablehlo.convert"(%236) : (tensor<2x16xi32>) -> tensor<2x16xui32>
    %238 = "stablehlo.constant"() {value = dense<2654435769> : tensor<2x16xui32>} : () -> tensor<2x16xui32>
    %239 = "stablehlo.multiply"(%234, %238) : (tensor<2x16xui32>, tensor<2x16xui32>) -> tensor<2x16xui32>
    %240 = "stablehlo.xor"(%235, %239) : (tensor<2x16xui32>, tensor<2x16xui32>) -> tensor<2x16xui32>
    %241 = "stablehlo.constant"() {value = dense<16> : tensor<2x16xui32>} : () -> tensor<2x16xui32>
    %242 = "stablehlo.shift_right_logical"(%240, %241) : (tensor<2x16xui32>, tensor<2x16xui32>) -> tensor<2x16xui32>
    %243 = "stablehlo.xor"(%240, %242) : (tensor<2x16xui32>, tensor<2x16xui32>) -> tensor<2x16xui32>
    %244 = "stablehlo.constant"() {value = dense<2246822507> : tensor<2x16xui32>} : () -> tensor<2x16xui32>
    %245 = "stablehlo.multiply"(%243, %244) : (tensor<2x16xui32>, tensor<2x16xui32>) -> tensor<2x16xui32>
    %246 = "stablehlo.constant"() {value = dense<13> : tensor<2x16xui32>} : () -> tensor<2x16xui32>
    %247 = "stablehlo.shift_right_logical"(%245, %246) : (tensor<2x16xui32>, tensor<2x16xui32>) -> tensor<2x16xui32>
    %248 = "stablehlo.xor"(%245, %247) : (tensor<2x16xui32>, tensor<2x16xui32>) -> tensor<2x16xui32>
    %249 = "stablehlo.constant"() {value = dense<3266489909> : tensor<2x16xui32>} : () -> tensor<2x16xui32>
    %250 = "stablehlo.multiply"(%248, %249) : (tensor<2x16xui32>, tensor<2x16xui32>) -> tensor<2x16xui32>
    %251 = "stablehlo.constant"() {value = dense<16> : tensor<2x16xui32>} : () -> tensor<2x16xui32>
    %252 = "stablehlo.shift_right_logical"(%250, %251) : (tensor<2x16xui32>, tensor<2x16xui32>) -> tensor<2x16xui32>
    %253 = "stablehlo.xor"(%250, %252) : (tensor<2x16xui32>, tensor<2x16xui32>) -> tensor<2x16xui32>
    %254 = "stablehlo.xor"(%253, %237) : (tensor<2x16xui32>, tensor<2x16xui32>) -> tensor<2x16xui32>
    %255 = "stablehlo.constant"() {value = dense<16> : tensor<2x16xui32>} : () -> tensor<2x16xui32>
    %256 = "stablehlo.shift_right_logical"(%254, %255) : (tensor<2x16xui32>, tensor<2x16xui32>) -> tensor<2x16xui32>
    %257 = "stablehlo.xor"(%254, %256) : (tensor<2x16xui32>, tensor<2x16xui32>) -> tensor<2x16xui32>
    %258 = "stablehlo.constant"() {value = dense<2246822507> : tensor<2x16xui32>} : () -> tensor<2x16xui32>
    %259 = "stablehlo.multiply"(%257, %258) : (tensor<2x16xui32>, tensor<2x16xui32>) -> tensor<2x16xui32>
    %260 = "stablehlo.constant"() {value = dense<13> : tensor<2x16xui32>} : () -> tensor<2x16xui32>
    %261 = "stablehlo.shift_right_logical"(%259, %260) : (tensor<2x16xui32>, tensor<2x16xui32>) -> tensor<2x16xui32>
    %262 = "stablehlo.xor"(%259, %261) : (tensor<2x16xui32>, tensor<2x16xui32>) -> tensor<2x16xui32>
    %263 = "stablehlo.constant"() {value = dense<3266489909> : tensor<2x16xui32>} : () -> tensor<2x16xui32>
    %264 = "stablehlo.multiply"(%262, %263) : (tensor<2x16xui32>, tensor<2x16xui32>) -> tensor<2x16xui32>
    %265 = "stablehlo.constant"() {value = dense<16> : tensor<2x16xui32>} : () -> tensor<2x16xui32>
    %266 = "stablehlo.shift_right_logical"(%264, %265) : (tensor<2x16xui32>, tensor<2x16xui32>) -> tensor<2x16xui32>
    %267 = "stablehlo.xor"(%264, %266) : (tensor<2x16xui32>, tensor<2x16xui32>) -> tensor<2x16xui32>
    %268 = "stablehlo.constant"() {value = dense<9> : tensor<2x16xui32>} : () -> tensor<2x16xui32>
    %269 = "stablehlo.shift_right_logical"(%267, %268) : (tensor<2x16xui32>, tensor<2x16xui32>) -> tensor<2x16xui32>
    %270 = "stablehlo.convert"(%269) : (tensor<2x16xui32>) -> tensor<2x16xf32>
    %271 = "stablehlo.constant"() {value = dense<0.5> : tensor<2x16xf32>} : () -> tensor<2x16xf32>
    %272 = "stablehlo.add"(%270, %271) : (tensor<2x16xf32>, tensor<2x16xf32>) -> tensor<2x16xf32>
    %273 = "stablehlo.constant"() {value = dense<1.1920929E-7> : tensor<2x16xf32>} : () -> tensor<2x16xf32>
    %274 = "stablehlo.multiply"(%272, %273) : (tensor<2x16xf32>, tensor<2x16xf32>) -> tensor<2x16xf32>
    %275 = "stablehlo.log"(%274) : (tensor<2x16xf32>) -> tensor<2x16xf32>
    %276 = "stablehlo.negate"(%275) : (tensor<2x16xf32>) -> tensor<2x16xf32>
    %277 = "stablehlo.log"(%276) : (tensor<2x16xf32>) -> tensor<2x16xf32>
    %278 = "stablehlo.negate"(%277) : (tensor<2x16xf32>) -> tensor<2x16xf32>
    %279 = "stablehlo.add"(%232, %278) : (tensor<2x16xf32>, tensor<2x16xf32>) -> tensor<2x16xf32>
    %280 = "stablehlo.constant"() {value = dense<-1.0E31> : tensor<f32>} : () -> tensor<f32>
    %281 = "stablehlo.reduce"(%279, %280) ({
    ^bb0(%282: tensor<f32>, %283: tensor<f32>):
      %284 = "stablehlo.maximum"(%282, %283) : (tensor<f32>, tensor<f32>) -> tensor<f32>
      "stablehlo.return"(%284) : (tensor<f32>) -> ()
    }) {dimensions = array<i64: 1>} : (tensor<2x16xf32>, tensor<f32>) -> tensor<2xf32>
    %285 = "stablehlo.broadcast_in_dim"(%281) {broadcast_dimensions = array<i64: 0>} : (tensor<2xf32>) -> tensor<2x16xf32>
    %286 = "stablehlo.compare"(%279, %285) {comparison_direction = #stablehlo<comparison_direction EQ>} : (tensor<2x16xf32>, tensor<2x16xf32>) -> tensor<2x16xi1>
    %287 = "stablehlo.iota"() {iota_dimension = 1 : i64} : () -> tensor<2x16xi32>
    %288 = "stablehlo.constant"() {value = dense<16> : tensor<2x16xi32>} : () -> tensor<2x16xi32>
    %289 = "stablehlo.select"(%286, %287, %288) : (tensor<2x16xi1>, tensor<2x16xi32>, tensor<2x16xi32>) -> tensor<2x16xi32>
    %290 = "stablehlo.constant"() {value = dense<16> : tensor<i32>} : () -> tensor<i32>
    %291 = "stablehlo.reduce"(%289, %290) ({
    ^bb0(%292: tensor<i32>, %293: tensor<i32>):
      %294 = "stablehlo.minimum"(%292, %293) : (tensor<i32>, tensor<i32>) -> tensor<i32>
      "stablehlo.return"(%294) : (tensor<i32>) -> ()
    }) {dimensions = array<i64: 1>} : (tensor<2x16xi32>, tensor<i32>) -> tensor<2xi32>
    %295 = "stablehlo.constant"() {value = dense<0.0> : tensor<2xf32>} : () -> tensor<2xf32>
    %296 = "stablehlo.compare"(%temperature, %295) {comparison_direction = #stablehlo<comparison_direction LE>} : (tensor<2xf32>, tensor<2xf32>) -> tensor<2xi1>
    %297 = "stablehlo.select"(%296, %174, %291) : (tensor<2xi1>, tensor<2xi32>, tensor<2xi32>) -> tensor<2xi32>
    "func.return"(%297, %76, %81) : (tensor<2xi32>, tensor<8x1x4xbf16>, tensor<8x1x4xbf16>) -> ()
  }
}
