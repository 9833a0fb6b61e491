"""ai-platform: load the stack config, build the platform, export what operators need."""

import pulumi

from components.platform import Platform, PlatformArgs
from config import load

loaded = load()
platform = Platform("ai", PlatformArgs(config=loaded.config, plan=loaded.plan, hf_token=loaded.hf_token,
                                      alerting_secret=loaded.alerting_secret))

pulumi.export("clusterName", platform.cluster_name)
pulumi.export("clusterEndpoint", platform.cluster.endpoint)
pulumi.export("nodePools", platform.cluster.node_pool_names)
if platform.kubeconfig is not None:
    pulumi.export("kubeconfig", platform.kubeconfig)
pulumi.export("capacity", platform.capacity)
pulumi.export("monthlyCost", platform.monthly_cost)
if platform.gateway_url is not None:
    pulumi.export("gatewayUrl", platform.gateway_url)
pulumi.export("models", platform.models)
if platform.routing is not None:
    pulumi.export("routing", platform.routing)
pulumi.export("dataEndpoints", platform.data_endpoints)
if platform.rag_bucket is not None:
    pulumi.export("ragBucket", platform.rag_bucket)
if platform.observability is not None:
    pulumi.export("grafanaUrl", platform.grafana_url)
    pulumi.export("grafanaAdminPassword", platform.grafana_admin_password)
