"""The textbook version: every sum written as a loop, one image at a time.

Read this next to the seed notebook.  Each kind's module holds its loops
(``kinds/conv.py``: ``conv_forward``, ``conv_backward``); this module runs
them in the order of an architecture.  It computes exactly what the
vectorised layers compute (the tests hold the two equal), but spells each
formula out index by index.  Nothing here is fast; that is the point.
Shapes are those of one image: ``(C, H, W)``, kernel ``(F, C, K, K)``.
"""


def forward_backward(image, label, arch, params, draws=None):
    """One full pass of ``arch`` (an architecture.Architecture) for one image (C, H, W).

    ``params`` holds every parameter by name, ``draws`` what layers drew at random by name (drop_mask, of this
    image), which their loops take with their parameters.  Returns (forward, backward), two
    dicts named as in network.py, without the batch axis: each layer's output
    (and each max pool's argmax) and the loss; dL/d of each of them, of every
    parameter and of the image.
    """
    forward, backwards = {}, []
    values = {"image": image}
    for named in arch.named[:-1]:
        own = {key: params[full] for key, full in named.params.items()}
        own.update({key: draws[f"{named.name}_{key}"] for key in named.kind_of.given_draws if draws})
        x = values[named.input] if len(named.inputs) == 1 else tuple(values[name] for name in named.inputs)
        x, extras, backward = named.kind_of.reference(x, named.layer, own)
        forward.update({f"{named.name}_{key}": value for key, value in extras.items()})
        forward[named.output] = values[named.output] = x
        backwards.append(backward)
    # dL/dz: the seed's dL/ds * ds/dz, simplified to s - y (softmax: s - onehot(y)); see kinds/sigmoid.py.
    out = arch.named[-1]
    output, forward["loss"], grad = out.kind_of.reference_loss(x, label)
    forward[out.output] = output

    # A value that feeds several layers (a residual block's input) gets the sum of what each passes back.
    backward, arrived = {}, {out.input: grad}
    for named, step in zip(reversed(arch.named[:-1]), reversed(backwards)):
        backward[named.output] = grad = arrived.pop(named.output)
        grad, param_grads = step(grad)
        backward.update({named.params[key]: value for key, value in param_grads.items()})
        for source, part in zip(named.inputs, grad if len(named.inputs) > 1 else (grad,)):
            arrived[source] = arrived[source] + part if source in arrived else part
    backward["image"] = arrived["image"]
    return forward, backward
