# setup.py: only what pyproject.toml cannot say: copy the built shim and analyzer
# (../build/libsesstrim.so, ../build/sesstrim-report, or $SESSTRIM_BUILD/...) into the
# package as sesstrim/_bin/, so an installed package finds them without the source tree.
# Build them first (`make` at the top of the tree); without them the package installs
# anyway and looks for the library at run time (sesstrim/_native.py).
import os
import shutil

from setuptools import setup
from setuptools.command.build_py import build_py

HERE = os.path.dirname(os.path.abspath(__file__))
NATIVE = ("libsesstrim.so", "sesstrim-report")


class build_py_with_native(build_py):
    def run(self):
        super().run()
        build = os.environ.get("SESSTRIM_BUILD") or os.path.join(os.path.dirname(HERE), "build")
        dest = os.path.join(self.build_lib, "sesstrim", "_bin")
        found = [n for n in NATIVE if os.path.isfile(os.path.join(build, n))]
        if not found:
            self.announce("sesstrim: no %s in %s: installing without the native files" %
                          (" or ".join(NATIVE), build), level=3)
            return
        os.makedirs(dest, exist_ok=True)
        for name in found:
            shutil.copy2(os.path.join(build, name), os.path.join(dest, name))


setup(cmdclass={"build_py": build_py_with_native})
