"""The open core: encoders, bottlenecks and decoders are *parts*, registered by name.

A part is an `nn.Module` subclass of `Encoder`, `Bottleneck` or `Decoder`, registered with
`@register("name")`. Its constructor takes JSON-able arguments only; they are recorded when the part
is built (`part.spec`), written to `config.json` as `{"name": ..., "args": {...}}`, and on load the
part is rebuilt from the registry by name with exactly those arguments: nothing is pickled. The
built-in parts (`autoencoders.blocks`, `autoencoders.bottlenecks`) register exactly like this.

What a model passes every part it builds by name (when the constructor takes the argument):
- an encoder: `input_shape` ([C, H, W]) and `out_features` (what its bottleneck takes);
- a bottleneck: `latent_dim` (the size of the code);
- a decoder: `latent_dim` and `output_shape` ([C, H, W]).

An encoder or decoder that declares `takes_labels = True` (and has `num_classes`) is conditional:
the model passes it the labels too, one-hot, as `forward(x, labels)` ([B, num_classes] floats).
"""

from __future__ import annotations

import functools
import inspect
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, ClassVar, TypeVar

import torch
from torch import Tensor, nn

from .checks import check_choice

PART_KINDS = ("encoder", "bottleneck", "decoder")
CONTEXT = {"encoder": ("input_shape", "out_features"), "bottleneck": ("latent_dim",), "decoder": ("latent_dim", "output_shape")}
_REGISTRY: dict[str, dict[str, type[Part]]] = {kind: {} for kind in PART_KINDS}
P = TypeVar("P", bound="type[Part]")


class UnknownPartError(ValueError):
    """A part name that nobody registered (yet): the code that registers it was not imported."""


@dataclass
class PartSpec:
    """A part as `config.json` records it: its registered name and its constructor arguments."""

    name: str
    args: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "args": dict(self.args)}

    @classmethod
    def from_value(cls, kind: str, value: Any) -> PartSpec:
        """A spec from a name (`"mlp"`) or a mapping (`{"name": "mlp", "args": {...}}`)."""
        if isinstance(value, PartSpec):
            return cls(value.name, dict(value.args))
        if isinstance(value, str):
            return cls(value)
        if isinstance(value, dict) and isinstance(value.get("name"), str) and set(value) <= {"name", "args"}:
            args = value.get("args", {})
            if isinstance(args, dict):
                return cls(value["name"], dict(args))
        raise ValueError(f"{kind} must be a registered name or {{'name': ..., 'args': {{...}}}}, got {value!r}")


def jsonable(value: Any) -> bool:
    """True for what JSON holds exactly: None, bool, int, finite float, str, and lists or
    string-keyed dicts of those (a tuple counts as a list)."""
    if value is None or isinstance(value, (bool, int, str)):
        return True
    if isinstance(value, float):
        return math.isfinite(value)
    if isinstance(value, (list, tuple)):
        return all(jsonable(item) for item in value)
    if isinstance(value, dict):
        return all(isinstance(key, str) and jsonable(item) for key, item in value.items())
    return False


def _as_json(value: Any) -> Any:
    """Tuples become lists, so that a spec equals its own JSON round trip."""
    if isinstance(value, (list, tuple)):
        return [_as_json(item) for item in value]
    if isinstance(value, dict):
        return {key: _as_json(item) for key, item in value.items()}
    return value


def _record_arguments(init: Callable[..., None]) -> Callable[..., None]:
    """Wrap a part's `__init__` so that the outermost call checks and records its arguments."""
    signature = inspect.signature(init)

    @functools.wraps(init)
    def wrapper(self: Part, *args: Any, **kwargs: Any) -> None:
        outermost = "_recording" not in self.__dict__
        if not outermost:
            init(self, *args, **kwargs)
            return
        try:
            bound = signature.bind(self, *args, **kwargs)
        except TypeError as err:
            raise TypeError(f"{type(self).__name__}: {err}") from None
        bound.apply_defaults()
        recorded: dict[str, Any] = {}
        for name, value in list(bound.arguments.items())[1:]:
            parameter = signature.parameters[name]
            items = value.items() if parameter.kind is inspect.Parameter.VAR_KEYWORD else [(name, value)]
            for key, item in items:
                if not jsonable(item):
                    raise TypeError(
                        f"{type(self).__name__} argument {key!r} is {type(item).__name__} {item!r}, which is not "
                        "JSON-able: config.json records a part's arguments, so pass plain values (numbers, "
                        "strings, lists, dicts; names like 'gelu', not objects)"
                    )
                recorded[key] = _as_json(item)
        self.__dict__["_recording"] = True
        try:
            init(self, *args, **kwargs)
        finally:
            del self.__dict__["_recording"]
        self.__dict__["_part_args"] = recorded

    return wrapper


class Part(nn.Module):
    """Base of every part. Subclasses record their constructor arguments automatically."""

    kind: ClassVar[str] = ""
    registered_name: ClassVar[str | None] = None
    takes_labels: ClassVar[bool] = False  # True: forward(x, labels) with labels one-hot [B, num_classes]
    num_classes: int = 0

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        init = cls.__dict__.get("__init__")
        if init is not None:
            if any(p.kind is inspect.Parameter.VAR_POSITIONAL for p in inspect.signature(init).parameters.values()):
                raise TypeError(f"{cls.__name__}.__init__ takes *args: a part's arguments must have names, for config.json")
            cls.__init__ = _record_arguments(init)  # type: ignore[method-assign]
        cls.registered_name = None  # a subclass of a registered part is a part of its own

    @property
    def spec(self) -> PartSpec:
        """Registered name and recorded arguments: what `config.json` holds for this part."""
        if self.registered_name is None:
            raise ValueError(
                f"{type(self).__name__} is not registered: decorate it with @autoencoders.register('a-name') "
                "so that config.json can name it and from_pretrained can rebuild it"
            )
        return PartSpec(self.registered_name, dict(self.__dict__.get("_part_args", {})))

    def extra_repr(self) -> str:
        return f"registered as {self.registered_name!r}" if self.registered_name else ""

    def connect(self, parts: dict[str, Part]) -> None:
        """Called once by the model after it has built its three parts (`parts`: kind -> part), before
        any weights are loaded: a part that starts from another's weights sets them here (the
        `dictionary` decoder starts the encoder as its transpose). Default: nothing."""

    def start_from_data(self, images: Tensor) -> None:
        """Called once by the training script before the first step of a fresh run (not on resume),
        with training images [B, C, H, W] as floats in [0, 1]: a part whose good start depends on the
        data sets it here (the `dictionary` decoder's bias). Default: nothing."""


class Encoder(Part):
    """Images [B, C, H, W] (floats in [0, 1]) -> features [B, out_features] for the bottleneck.

    `input_filters` and `first_layer_responses` feed the Features view; an encoder without a
    first layer of that kind keeps the defaults, which say so by returning None.
    """

    kind = "encoder"
    first_layer_name: ClassVar[str] = "first-layer units"

    def input_filters(self) -> Tensor | None:
        """The input pattern each first-layer unit weighs the input by, [units, C, h, w] (raw
        weights, sign-flipped where a normalisation's negative scale inverts the unit), or None."""
        return None

    def first_layer_responses(self, images: Tensor) -> Tensor | None:
        """[B, units]: each first-layer unit's output for float `images`, or None."""
        return None


class Bottleneck(Part):
    """Encoder features -> the code. It owns what is its own:

    - `forward(features) -> (code, terms)`: the code used in training (what the decoder takes: a
      discrete code's quantised vectors) and its loss terms, unweighted, each a scalar averaged over the batch; `loss_weights[name]` weighs each term
      (a term without a weight counts once);
    - `code(features)`: the deterministic code that `encode` returns;
    - `image_statistics(features)`: what it reports per image (averaged by `evaluate`);
    - `set_statistics(codes)`: what it reports over a whole set of codes (e.g. dead units);
    - `project(codes)`: the nearest codes it can produce (default: identity), applied to the codes
      that sampling, the principal axes and interpolation make up;
    - `decoded_terms(features, code, logits, decoder, loss)`: loss terms that need the decoder and
      the target (TopK's AuxK: dead latents fit the residual); `loss(logits)` is the reconstruction
      loss of any logits against this batch's target;
    - `has_prior` / `sample_prior(n)`: whether its codes have a prior N(0, I) to sample from;
    - `has_posterior` / `posterior(features)` / `prior(device)`: the distributions q(z | x) and p(z)
      as `torch.distributions`, which give the likelihood bounds (`autoencoders.likelihood`);
    - `in_features`: how many features it takes from the encoder (default: `latent_dim`).

    A bottleneck whose code is not a vector (VQ-VAE's grid of token indices) says so with
    `discrete = True` and provides `code_shape` (the shape of one code), `decoder_features` and
    `decoder_input(codes)` (what the decoder takes instead of the code), `describe_code()` and
    `fit_prior(codes)` (the prior over its codes that `sample` draws from, fitted after training).
    A discrete code has no principal axes, mixture or straight-line interpolation: what needs them
    says so instead of running. A fitted prior conditioned on labels says how many with
    `prior_classes` and takes them: `fit_prior(codes, seed, labels)`, `sample_prior(n, generator,
    device, labels)` (labels None: drawn from the training labels' frequencies).
    """

    kind = "bottleneck"
    has_prior: ClassVar[bool] = False
    has_posterior: ClassVar[bool] = False
    discrete: ClassVar[bool] = False
    prior_classes: int = 0
    statistic_names: ClassVar[dict[str, str]] = {}

    def __init__(self, latent_dim: int) -> None:
        super().__init__()
        if not isinstance(latent_dim, int) or latent_dim < 1:
            raise ValueError(f"latent_dim must be a positive int, got {latent_dim!r}")
        self.latent_dim = latent_dim

    @property
    def in_features(self) -> int:
        return self.latent_dim

    @property
    def loss_weights(self) -> dict[str, float]:
        return {}

    @property
    def code_shape(self) -> tuple[int, ...]:
        """The shape of one image's code: `(latent_dim,)` for a vector."""
        return (self.latent_dim,)

    @property
    def decoder_features(self) -> int:
        """How many features the decoder takes (default: the code itself, `latent_dim`)."""
        return self.latent_dim

    def decoder_input(self, codes: Tensor) -> Tensor:
        """What the decoder takes for `codes` (default: the codes themselves)."""
        return codes

    def describe_code(self) -> str:
        return f"{self.latent_dim}-d code"

    def fit_prior(self, codes: Tensor, seed: int = 0, labels: Tensor | None = None) -> None:
        raise ValueError(f"the {self.registered_name or type(self).__name__} bottleneck fits no prior to its codes")

    def forward(self, features: Tensor) -> tuple[Tensor, dict[str, Tensor]]:
        return self.code(features), {}

    def code(self, features: Tensor) -> Tensor:
        raise NotImplementedError(f"{type(self).__name__} must define code(features)")

    def project(self, codes: Tensor) -> Tensor:
        """The codes this bottleneck can produce nearest to `codes` (what sampling, the axes and
        interpolation decode): identity by default; TopK keeps the k largest positive entries."""
        return codes

    def decoded_terms(
        self, features: Tensor, code: Tensor, logits: Tensor, decoder: Decoder, loss: Callable[[Tensor], Tensor]
    ) -> dict[str, Tensor]:
        return {}

    def image_statistics(self, features: Tensor) -> dict[str, Tensor]:
        return {}

    def set_statistics(self, codes: Tensor) -> dict[str, float]:
        return {}

    def sample_prior(self, n: int, generator: torch.Generator | None = None, device: torch.device | str = "cpu") -> Tensor:
        raise ValueError(f"the {self.registered_name or type(self).__name__} bottleneck has no prior to sample")

    def posterior(self, features: Tensor) -> torch.distributions.Distribution:
        raise ValueError(f"the {self.registered_name or type(self).__name__} bottleneck has no posterior distribution")

    def prior(self, device: torch.device | str = "cpu") -> torch.distributions.Distribution:
        raise ValueError(f"the {self.registered_name or type(self).__name__} bottleneck has no prior distribution")


class Decoder(Part):
    """Codes [B, latent_dim] -> logits [B, C, H, W]; the model applies the sigmoid.

    `atom_images` feeds the Features view of a decoder that adds one image per code unit (a
    dictionary); the others keep the default, which says so by returning None.
    """

    kind = "decoder"

    def atom_images(self) -> Tensor | None:
        """[latent_dim, C, H, W]: what each code unit adds to the logits per unit of activation, or None."""
        return None


PART_BASES = {"encoder": Encoder, "bottleneck": Bottleneck, "decoder": Decoder}


def register(name: str) -> Callable[[P], P]:
    """Class decorator: make a part buildable by `name` (and so loadable from config.json).

    Registering the same name again replaces the entry only for a class of the same module and
    name (a re-run notebook cell); another class under a taken name is an error.
    """
    if not isinstance(name, str) or not name:
        raise ValueError(f"a part's registered name must be a non-empty string, got {name!r}")

    def decorate(cls: P) -> P:
        kind = next((kind for kind, base in PART_BASES.items() if issubclass(cls, base)), None)
        if kind is None:
            raise TypeError(f"{cls.__name__} must subclass autoencoders.Encoder, Bottleneck or Decoder to be registered")
        taken = _REGISTRY[kind].get(name)
        if taken is not None and (taken.__module__, taken.__qualname__) != (cls.__module__, cls.__qualname__):
            raise ValueError(f"the {kind} name {name!r} is taken by {taken.__module__}.{taken.__qualname__}")
        _REGISTRY[kind][name] = cls
        cls.registered_name = name
        return cls

    return decorate


def registered(kind: str) -> dict[str, type[Part]]:
    """The registered parts of one kind, name -> class, in registration order."""
    check_choice("part kind", kind, PART_KINDS)
    return dict(_REGISTRY[kind])


def part_class(kind: str, name: str) -> type[Part]:
    """The class registered as `name`; an `UnknownPartError` says which import is missing."""
    table = registered(kind)
    try:
        check_choice(kind, name, table)
    except ValueError as err:
        raise UnknownPartError(
            f"{err}. A part of your own must be registered before it is built or loaded: import the code "
            f"that registers it (@register({name!r})) first"
        ) from None
    return table[name]


def parameters_of(cls: type[Part]) -> list[str]:
    """The constructor arguments a part takes, in order."""
    return [name for name in inspect.signature(cls.__init__).parameters if name != "self"]


def build_part(kind: str, spec: PartSpec, context: dict[str, Any]) -> Part:
    """Build the registered part `spec.name` from its arguments plus the model's `context` (those
    it takes); an argument that contradicts the context is an error."""
    cls = part_class(kind, spec.name)
    accepted = parameters_of(cls)
    args = dict(spec.args)
    for key, value in context.items():
        if key not in accepted:
            continue
        if key in args and _as_json(args[key]) != _as_json(value):
            raise ValueError(f"the {spec.name} {kind}'s {key} is {args[key]!r} but the model's is {value!r}")
        args[key] = value
    return cls(**args)
