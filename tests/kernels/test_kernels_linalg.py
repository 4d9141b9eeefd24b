"""Matrix instructions at their delicate points: singular, repeated and rectangular."""

import numpy as np
import pytest
from kernel_graphs import close

import ad
from ad import reference
from ad.errors import DegenerateDerivativeError, NonFiniteError, SingularMatrixError
from ad.ir import GraphBuilder, Var


def unary_graph(name, shape, out=0, **params):
    b = GraphBuilder()
    x = b.input(shape)
    res = b.apply(name, x, **params)
    outs = (res,) if isinstance(res, Var) else res
    return b.build(outs[out] if isinstance(out, int) else tuple(outs[k] for k in out))


def test_inv_of_a_singular_matrix_names_the_node():
    g = unary_graph("inv", (2, 2))
    with pytest.raises(SingularMatrixError, match=r"v1 = inv\(v0\)"):
        g(np.ones((2, 2)))


def test_cholesky_of_an_indefinite_matrix_names_the_node():
    g = unary_graph("cholesky", (2, 2))
    with pytest.raises(SingularMatrixError, match="cholesky"):
        g(np.array([[1.0, 2.0], [2.0, 1.0]]))


def test_solve_with_a_singular_matrix_names_the_node():
    b = GraphBuilder()
    A, y = b.input((2, 2)), b.input((2,))
    g = b.build(b.apply("solve", A, y))
    with pytest.raises(SingularMatrixError, match="solve"):
        g(np.ones((2, 2)), np.ones(2))


@pytest.mark.parametrize("rank", [2, 1])
def test_det_gradient_is_the_adjugate_at_singular_matrices(rank):
    rng = np.random.default_rng(rank)
    X = rng.standard_normal((3, rank)) @ rng.standard_normal((rank, 3))
    g = unary_graph("det", (3, 3))
    grad = ad.reverse.gradient(g, X, engine="compiled")
    want = ad.reverse.gradient(g, X, engine="reference")
    assert np.all(np.isfinite(grad))
    np.testing.assert_allclose(grad, want, atol=1e-12)
    if rank == 1:
        np.testing.assert_allclose(grad, 0.0, atol=1e-12)
    np.testing.assert_allclose(ad.forward.jacobian(g, X, engine="compiled"), want, atol=1e-12)


def test_eigenvector_derivative_at_a_repeated_eigenvalue_is_degenerate():
    g = unary_graph("eigh", (3, 3), out=(0, 1))
    X = np.diag([1.0, 1.0, 2.0])
    with pytest.raises(DegenerateDerivativeError, match="eigh"):
        ad.forward.jacobian(g, X, engine="compiled")
    with pytest.raises(DegenerateDerivativeError, match="eigh"):
        ad.reverse.jacobian(g, X, engine="compiled")


def test_eigenvalues_alone_are_differentiable_at_a_repeated_eigenvalue():
    X = np.diag([1.0, 1.0, 2.0])
    for name in ("eigh", "eigvalsh"):
        g = unary_graph(name, (3, 3), out=0)  # only w reaches the output
        close(
            ad.reverse.jacobian(g, X, engine="compiled"),
            ad.reverse.jacobian(g, X, engine="reference"),
        )
    g = unary_graph("eigvalsh", (3, 3), out=0)
    close(
        ad.forward.jacobian(g, X, engine="compiled"), ad.forward.jacobian(g, X, engine="reference")
    )


def test_svd_of_a_rectangular_matrix_with_full_matrices():
    rng = np.random.default_rng(0)
    X = rng.standard_normal((5, 3))
    b = GraphBuilder()
    x = b.input((5, 3))
    U, s, Vt = b.apply("svd", x, full=True)
    cols = np.arange(5)[:, None] * 5 + np.arange(3)  # U[:, :3]
    thin = b.apply("gather", U, s, idx=cols, in_ndims=(2, 1))
    g = b.build((thin, s, Vt))  # the completing columns of U are not used
    close(
        ad.reverse.jacobian(g, X, engine="compiled"), ad.reverse.jacobian(g, X, engine="reference")
    )
    with pytest.raises(DegenerateDerivativeError):
        ad.forward.jacobian(g, X, engine="compiled")


def test_singular_values_alone_at_a_repeated_singular_value():
    X = np.eye(3)
    g = unary_graph("svdvals", (3, 3), out=1)
    for mode in (ad.forward, ad.reverse):
        close(mode.jacobian(g, X, engine="compiled"), mode.jacobian(g, X, engine="reference"))


def test_slogdet_of_a_singular_matrix_is_reported():
    g = unary_graph("slogdet", (2, 2), out=1)
    with pytest.raises((NonFiniteError, SingularMatrixError)):
        ad.reverse.gradient(g, np.ones((2, 2)), engine="compiled")


def test_matrix_residuals_are_counted_in_the_tape():
    g = unary_graph("cholesky", (3, 3))
    # X (9) + L (9) + L^-1 residual (9)
    assert ad.reverse.tape_bytes(g) == 8 * 27
    g = unary_graph("inv", (3, 3))
    assert ad.reverse.tape_bytes(g) == 8 * 18


def test_the_kernel_tape_matches_the_reference_values_on_a_matrix_program():
    rng = np.random.default_rng(3)

    def f(A, B):
        S = A @ A.T + np.eye(4)
        L = np.linalg.cholesky(S)
        return np.linalg.slogdet(S)[1] + np.sum(np.linalg.solve(L, B)) + np.trace(np.linalg.inv(S))

    A, B = rng.standard_normal((4, 4)), rng.standard_normal((4, 2))
    g = ad.trace(f, A, B)
    env = reference.evaluate(g, [A, B])
    close(g(A, B), env[g.outputs[0].id])
    close(
        ad.reverse.jacobian(g, (A, B), engine="compiled"),
        ad.reverse.jacobian(g, (A, B), engine="reference"),
    )
