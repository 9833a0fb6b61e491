"""ReadWriteMany model caches: the cluster provides the shared file system and its StorageClass."""

from __future__ import annotations

import json

from tests.conftest import run_config, run_stack, stack_values

STORAGE_CLASS = "kubernetes:storage.k8s.io/v1:StorageClass"


def test_eks_gets_an_encrypted_efs_with_mount_targets_csi_driver_and_class():
    result = run_stack("prod")  # serving.cacheAccessMode: ReadWriteMany, no storageClass
    [efs] = result.of_type("aws:efs/fileSystem:FileSystem")
    assert efs.inputs["encrypted"] is True and efs.inputs["throughputMode"] == "elastic"
    cluster = result.one("aws:eks/cluster:Cluster")
    [sg] = [r for r in result.of_type("aws:ec2/securityGroup:SecurityGroup") if "efs" in r.name]
    [rule] = sg.inputs["ingress"]
    assert (rule["protocol"], rule["fromPort"], rule["toPort"]) == ("tcp", 2049, 2049)
    assert rule["securityGroups"] == [cluster.outputs["vpcConfig"]["clusterSecurityGroupId"]]
    assert "cidrBlocks" not in rule, "NFS only from the cluster's nodes"
    targets = result.of_type("aws:efs/mountTarget:MountTarget")
    # One mount target in every subnet the nodes run in.
    node_subnets = {s for g in result.of_type("aws:eks/nodeGroup:NodeGroup") for s in g.inputs["subnetIds"]}
    assert sorted(t.inputs["subnetId"] for t in targets) == sorted(node_subnets)
    assert len(targets) == 3 and all(t.inputs["securityGroups"] for t in targets)
    [addon] = [r for r in result.of_type("aws:eks/addon:Addon") if r.inputs["addonName"] == "aws-efs-csi-driver"]
    [role] = [r for r in result.of_type("aws:iam/role:Role") if "efs-csi" in r.name]
    trust = json.loads(role.inputs["assumeRolePolicy"])
    condition = trust["Statement"][0]["Condition"]["StringEquals"]
    assert "system:serviceaccount:kube-system:efs-csi-controller-sa" in condition.values()
    [attachment] = [r for r in result.of_type("aws:iam/rolePolicyAttachment:RolePolicyAttachment")
                    if "efs-csi" in r.name]
    assert attachment.inputs["policyArn"].endswith(":iam::aws:policy/service-role/AmazonEFSCSIDriverPolicy")
    [cls] = [r for r in result.of_type(STORAGE_CLASS) if r.inputs["metadata"]["name"] == "ai-platform-rwx"]
    assert cls.inputs["provisioner"] == "efs.csi.aws.com"
    params = cls.inputs["parameters"]
    assert params["provisioningMode"] == "efs-ap"
    assert params["fileSystemId"] == targets[0].inputs["fileSystemId"] and params["fileSystemId"].startswith("fs-")
    assert (params["uid"], params["gid"]) == ("1000", "1000")
    assert addon.urn in cls.dependencies and all(t.urn in cls.dependencies for t in targets)
    claims = [r for r in result.of_type("kubernetes:core/v1:PersistentVolumeClaim")
              if r.inputs["metadata"]["name"].endswith("-model-cache")]
    assert claims and all(c.inputs["spec"]["storageClassName"] == "ai-platform-rwx" for c in claims)


def test_gke_enables_filestore_and_uses_standard_rwx():
    values = stack_values("dev")
    off = run_config(values)
    assert off.one("gcp:container/cluster:Cluster").inputs.get("addonsConfig") is None
    values["serving"]["cacheAccessMode"] = "ReadWriteMany"
    on = run_config(values)
    addons = on.one("gcp:container/cluster:Cluster").inputs["addonsConfig"]
    assert addons == {"gcpFilestoreCsiDriverConfig": {"enabled": True}}
    [claim] = [r for r in on.of_type("kubernetes:core/v1:PersistentVolumeClaim")
               if r.inputs["metadata"]["name"] == "qwen7b-model-cache"]
    assert claim.inputs["spec"]["storageClassName"] == "standard-rwx"
    assert claim.inputs["spec"]["accessModes"] == ["ReadWriteMany"]


def test_a_named_class_means_no_shared_file_system_is_created():
    values = stack_values("prod")
    values["serving"]["storageClass"] = "team-nfs"
    result = run_config(values)
    assert not result.of_type("aws:efs/fileSystem:FileSystem")
    assert not [r for r in result.of_type(STORAGE_CLASS) if r.inputs["metadata"]["name"] == "ai-platform-rwx"]
