#!/usr/bin/python3
# Independent reference: runs a .tflite model on Arm NN's CpuRef backend (Debian python3-pyarmnn).
# usage: armnn_ref.py MODEL.tflite INPUTS.bin OUTPUTS.bin
#   INPUTS.bin  N samples of raw int8 input, back to back
#   OUTPUTS.bin N samples of raw int8 output, back to back
import sys
import numpy as np
import pyarmnn as ann

model_path, in_path, out_path = sys.argv[1:4]
parser = ann.ITfLiteParser()
network = parser.CreateNetworkFromBinaryFile(model_path)
graph_id = 0
input_names = parser.GetSubgraphInputTensorNames(graph_id)
output_names = parser.GetSubgraphOutputTensorNames(graph_id)
assert len(input_names) == 1 and len(output_names) == 1, (input_names, output_names)
in_binding = parser.GetNetworkInputBindingInfo(graph_id, input_names[0])
out_binding = parser.GetNetworkOutputBindingInfo(graph_id, output_names[0])

runtime = ann.IRuntime(ann.CreationOptions())
opt, _ = ann.Optimize(network, [ann.BackendId('CpuRef')], runtime.GetDeviceSpec(), ann.OptimizerOptions())
net_id, _ = runtime.LoadNetwork(opt)

in_size = in_binding[1].GetNumElements()
out_size = out_binding[1].GetNumElements()
data = np.fromfile(in_path, dtype=np.int8)
assert data.size % in_size == 0, (data.size, in_size)
outs = []
for i in range(data.size // in_size):
    x = data[i * in_size:(i + 1) * in_size]
    input_tensors = ann.make_input_tensors([in_binding], [x])
    output_tensors = ann.make_output_tensors([out_binding])
    runtime.EnqueueWorkload(net_id, input_tensors, output_tensors)
    y = ann.workload_tensors_to_ndarray(output_tensors)[0]
    outs.append(np.asarray(y).astype(np.int8).reshape(-1))
np.concatenate(outs).astype(np.int8).tofile(out_path)
print(f"{len(outs)} samples, {in_size} -> {out_size}", file=sys.stderr)
