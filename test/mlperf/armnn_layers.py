#!/usr/bin/python3
# Arm NN CpuRef with every graph output bound: runs MODEL.tflite on N raw int8 inputs and writes
# output k of all samples, back to back, to PREFIX.k.bin (k in the order of the subgraph's outputs).
# usage: armnn_layers.py MODEL.tflite INPUTS.bin PREFIX
import sys
import numpy as np
import pyarmnn as ann

model_path, in_path, prefix = sys.argv[1:4]
runtime = ann.IRuntime(ann.CreationOptions())
parser = ann.ITfLiteParser()
network = parser.CreateNetworkFromBinaryFile(model_path)
input_names = parser.GetSubgraphInputTensorNames(0)
output_names = parser.GetSubgraphOutputTensorNames(0)
assert len(input_names) == 1, input_names
in_binding = parser.GetNetworkInputBindingInfo(0, input_names[0])
out_bindings = [parser.GetNetworkOutputBindingInfo(0, n) for n in output_names]
opt, _ = ann.Optimize(network, [ann.BackendId('CpuRef')], runtime.GetDeviceSpec(), ann.OptimizerOptions())
net_id, _ = runtime.LoadNetwork(opt)
in_size = in_binding[1].GetNumElements()
data = np.fromfile(in_path, dtype=np.int8)
assert data.size % in_size == 0, (data.size, in_size)
outs = [[] for _ in out_bindings]
for i in range(data.size // in_size):
    input_tensors = ann.make_input_tensors([in_binding], [data[i * in_size:(i + 1) * in_size]])
    output_tensors = ann.make_output_tensors(out_bindings)
    runtime.EnqueueWorkload(net_id, input_tensors, output_tensors)
    for k, y in enumerate(ann.workload_tensors_to_ndarray(output_tensors)):
        outs[k].append(np.asarray(y).astype(np.int8).reshape(-1))
runtime.UnloadNetwork(net_id)
for k, o in enumerate(outs):
    np.concatenate(o).astype(np.int8).tofile('%s.%d.bin' % (prefix, k))
