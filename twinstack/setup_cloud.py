"""Bringing a cloud to life on its data directory: open, bootstrap, write the admin's clouds.yaml."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from twinstack import clouds_yaml
from twinstack.api.services import catalog_entries
from twinstack.cloud import Cloud
from twinstack.compute_plane import ComputePlane, start_for
from twinstack.core.clock import utcnow
from twinstack.core.compute.flavors import ensure_default_flavors
from twinstack.core.identity.bootstrap import bootstrap_identity
from twinstack.core.image.images import ensure_test_image
from twinstack.core.network.bootstrap import ensure_default_subnetpool, ensure_public_network
from twinstack.core.scheduler.filter_scheduler import scheduler_factory
from twinstack.core.scheduler.write_through import SqlBackedPlacement
from twinstack.core.volume.types import ensure_default_types
from twinstack.loadbalancer_plane import start_loadbalancer
from twinstack.volume_plane import start_volume


@dataclass(frozen=True)
class Ready:
    clouds_yaml: Path
    admin_password_changed: bool

    def export_lines(self) -> list[str]:
        return [f"export OS_CLIENT_CONFIG_FILE={self.clouds_yaml}", f"export OS_CLOUD={clouds_yaml.CLOUD_NAME}"]


def bootstrap(cloud: Cloud) -> Ready:
    """Idempotent: a new cloud gets its admin, roles and catalog; an existing one keeps them."""
    settings = cloud.settings
    path = (settings.data_dir / "clouds.yaml").resolve()
    known = clouds_yaml.read_password(path)
    ident = settings.identity
    with cloud.transaction() as session:
        result = bootstrap_identity(
            session,
            cloud.clock,
            region=settings.region,
            services=catalog_entries(settings.effective_public_url),
            admin_user=ident.admin_user,
            admin_project=ident.admin_project,
            admin_password=ident.admin_password,
            reset_password=known is None,
            kdf_n=ident.password_kdf_n,
        )
        # what a new user's first `openstack server create --image twinstack-test --flavor m1.tiny` needs
        ensure_default_flavors(session, utcnow(cloud.clock))
        ensure_test_image(session, result.admin_project_id, utcnow(cloud.clock))
        # Cinder's __DEFAULT__ volume type and one type per back end (`volume create --type ssd`)
        ensure_default_types(session, utcnow(cloud.clock), [b.volume_backend_name for b in settings.volume.backends])
        # devstack's external network, so `floating ip create public` works on a new cloud
        ensure_public_network(session, cloud.clock, settings.network, result.admin_project_id)
        # and its shared default subnet pool, so `server create --nic auto` gets the project a network
        ensure_default_subnetpool(session, cloud.clock, settings.network, result.admin_project_id)
    password = result.admin_password or known
    assert password is not None
    auth_url = f"{settings.effective_public_url}/identity/v3"
    clouds_yaml.write(path, clouds_yaml.admin_cloud(auth_url, settings.region, ident.admin_user, password,
                                                    ident.admin_project))
    return Ready(path, result.admin_password is not None)


def start_compute(cloud: Cloud) -> ComputePlane:
    """Start the compute plane over the hosts the settings describe (simulated by default)."""
    placement = SqlBackedPlacement(cloud.sessions)
    plane = start_for(cloud, placement, scheduler_factory(cloud.settings.scheduler, seed=cloud.settings.compute.seed))
    start_volume(cloud, plane)  # block storage joins the compute plane's runtime and bus
    start_loadbalancer(cloud, plane)  # and so do the load balancers' worker and (simulated) amphorae
    return plane
