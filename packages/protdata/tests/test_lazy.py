"""protdata._lazy: package namespaces import their modules on first use, with the eager semantics."""

from __future__ import annotations

import importlib
import subprocess
import sys
import textwrap

import pytest

PACKAGES = ("protdata", "protenc_seq", "protenc_struct", "protfusion", "protalign", "prottasks")


def _python(code: str) -> str:
    """Run ``code`` in a fresh interpreter (nothing imported yet) and return its stdout."""
    result = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stderr
    return result.stdout.strip()


def test_importing_every_package_imports_no_submodule_and_no_torch() -> None:
    out = _python(
        f"""
        import sys
        for name in {PACKAGES!r}:
            __import__(name)
        ours = sorted(m for m in sys.modules if m.split(".")[0] in {PACKAGES!r} and "." in m)
        print(ours == ["protdata._lazy"], "torch" in sys.modules, "numpy" in sys.modules)
        """
    )
    assert out == "True False False"


@pytest.mark.parametrize("package", PACKAGES)
def test_every_exported_name_resolves_to_its_defining_module(package: str) -> None:
    pkg = importlib.import_module(package)
    for name, target in pkg._EXPORTS.items():
        value = getattr(pkg, name)
        module = importlib.import_module(target)
        expected = (
            module if target == f"{package}.{name}" and name not in vars(module) else vars(module)[name]
        )
        assert value is expected, f"{package}.{name}"
    assert sorted(pkg.__all__) == sorted(pkg._EXPORTS)
    assert set(pkg.__all__) <= set(dir(pkg))


def test_unknown_name_is_an_attribute_error() -> None:
    import protdata

    with pytest.raises(AttributeError, match="no attribute 'NoSuchName'"):
        _ = protdata.NoSuchName
    with pytest.raises(ImportError):
        exec("from protdata import NoSuchName", {})


def test_same_named_submodule_import_does_not_hide_the_exported_function() -> None:
    # protfusion.build (module) defines protfusion.build (function): importing the submodule first must leave
    # the package attribute the function, as an eager ``from protfusion.build import build`` did.
    out = _python(
        """
        import protfusion.build
        from protfusion import build
        import protfusion
        print(type(build).__name__, protfusion.build is build)
        """
    )
    assert out == "function True"


def test_submodule_export_is_the_module() -> None:
    out = _python("import protdata, types; print(isinstance(protdata.transforms, types.ModuleType))")
    assert out == "True"


CONFIG_MODULES = (
    "protenc_seq.config",
    "protenc_struct.config",
    "protfusion.config",
    "protfusion.encoders",
    "prottasks.config",
    "protalign.config",
    "protdata.transforms.compose",
)


def test_config_modules_import_no_torch() -> None:
    # Apps validate configs (and answer --help) before importing torch, which alone takes seconds.
    out = _python(
        f"""
        import importlib, sys
        for name in {CONFIG_MODULES!r}:
            importlib.import_module(name)
        print(sorted(m for m in ("torch", "torch_geometric", "deepspeed") if m in sys.modules))
        """
    )
    assert out == "[]"
