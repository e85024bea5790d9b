// Short names for the generated message types, so other packages never import from
// generated/ paths directly. `XInput` is what a sender may pass; `X` is what a receiver gets.

export type { AdminClient, AdminHandlers } from "../generated/castle/v1/Admin.js";
export type { AlterConfigOp } from "../generated/castle/v1/AlterConfigOp.js";
export type { AlterConfigsRequest, AlterConfigsRequestInput } from "../generated/castle/v1/AlterConfigsRequest.js";
export type { AlterConfigsResponse, AlterConfigsResponseInput } from "../generated/castle/v1/AlterConfigsResponse.js";
export type { AlterPartitionItemResult, AlterPartitionItemResultInput } from "../generated/castle/v1/AlterPartitionItemResult.js";
export type { AlterPartitionRequest, AlterPartitionRequestInput } from "../generated/castle/v1/AlterPartitionRequest.js";
export type { AlterPartitionResponse, AlterPartitionResponseInput } from "../generated/castle/v1/AlterPartitionResponse.js";
export type { BrokerClient, BrokerHandlers } from "../generated/castle/v1/Broker.js";
export type {
  BrokerEndpoint as WireBrokerEndpoint,
  BrokerEndpointInput as WireBrokerEndpointInput,
} from "../generated/castle/v1/BrokerEndpoint.js";
export type {
  BrokerHeartbeatRequest as WireBrokerHeartbeatRequest,
  BrokerHeartbeatRequestInput as WireBrokerHeartbeatRequestInput,
} from "../generated/castle/v1/BrokerHeartbeatRequest.js";
export type {
  BrokerHeartbeatResponse as WireBrokerHeartbeatResponse,
  BrokerHeartbeatResponseInput as WireBrokerHeartbeatResponseInput,
} from "../generated/castle/v1/BrokerHeartbeatResponse.js";
export type { BrokerInfo, BrokerInfoInput } from "../generated/castle/v1/BrokerInfo.js";
export type { ClusterNode, ClusterNodeInput } from "../generated/castle/v1/ClusterNode.js";
export type { ConfigEntry, ConfigEntryInput } from "../generated/castle/v1/ConfigEntry.js";
export type { ConfigResourceType } from "../generated/castle/v1/ConfigResourceType.js";
export type { ConfigSource } from "../generated/castle/v1/ConfigSource.js";
export type { ConsumerAssignment, ConsumerAssignmentInput } from "../generated/castle/v1/ConsumerAssignment.js";
export type { ConsumerSubscription, ConsumerSubscriptionInput } from "../generated/castle/v1/ConsumerSubscription.js";
export type { ConsumerTopicPartitions, ConsumerTopicPartitionsInput } from "../generated/castle/v1/ConsumerTopicPartitions.js";
export type { ControllerClient, ControllerHandlers } from "../generated/castle/v1/Controller.js";
export type { CreatePartitionsRequest, CreatePartitionsRequestInput } from "../generated/castle/v1/CreatePartitionsRequest.js";
export type { CreatePartitionsResponse, CreatePartitionsResponseInput } from "../generated/castle/v1/CreatePartitionsResponse.js";
export type { CreateTopicResultInput } from "../generated/castle/v1/CreateTopicResult.js";
export type { CreateTopicsRequest, CreateTopicsRequestInput } from "../generated/castle/v1/CreateTopicsRequest.js";
export type { CreateTopicsResponse, CreateTopicsResponseInput } from "../generated/castle/v1/CreateTopicsResponse.js";
export type { DeletedGroupResult, DeletedGroupResultInput } from "../generated/castle/v1/DeletedGroupResult.js";
export type { DeleteGroupsRequest, DeleteGroupsRequestInput } from "../generated/castle/v1/DeleteGroupsRequest.js";
export type { DeleteGroupsResponse, DeleteGroupsResponseInput } from "../generated/castle/v1/DeleteGroupsResponse.js";
export type { DeleteTopicsRequest, DeleteTopicsRequestInput } from "../generated/castle/v1/DeleteTopicsRequest.js";
export type { DeleteTopicsResponse, DeleteTopicsResponseInput } from "../generated/castle/v1/DeleteTopicsResponse.js";
export type { DescribeClusterRequest, DescribeClusterRequestInput } from "../generated/castle/v1/DescribeClusterRequest.js";
export type { DescribeClusterResponse, DescribeClusterResponseInput } from "../generated/castle/v1/DescribeClusterResponse.js";
export type { DescribeConfigsRequest, DescribeConfigsRequestInput } from "../generated/castle/v1/DescribeConfigsRequest.js";
export type { DescribeConfigsResponse, DescribeConfigsResponseInput } from "../generated/castle/v1/DescribeConfigsResponse.js";
export type { DescribedGroup, DescribedGroupInput } from "../generated/castle/v1/DescribedGroup.js";
export type { DescribedGroupMember, DescribedGroupMemberInput } from "../generated/castle/v1/DescribedGroupMember.js";
export type { DescribeGroupsRequest, DescribeGroupsRequestInput } from "../generated/castle/v1/DescribeGroupsRequest.js";
export type { DescribeGroupsResponse, DescribeGroupsResponseInput } from "../generated/castle/v1/DescribeGroupsResponse.js";
export type { DescribeQuorumRequest, DescribeQuorumRequestInput } from "../generated/castle/v1/DescribeQuorumRequest.js";
export type { DescribeQuorumResponse, DescribeQuorumResponseInput } from "../generated/castle/v1/DescribeQuorumResponse.js";
export type { DescribeTopicsRequest, DescribeTopicsRequestInput } from "../generated/castle/v1/DescribeTopicsRequest.js";
export type { DescribeTopicsResponse, DescribeTopicsResponseInput } from "../generated/castle/v1/DescribeTopicsResponse.js";
export type { ElectLeaderResult, ElectLeaderResultInput } from "../generated/castle/v1/ElectLeaderResult.js";
export type { ElectLeadersRequest, ElectLeadersRequestInput } from "../generated/castle/v1/ElectLeadersRequest.js";
export type { ElectLeadersResponse, ElectLeadersResponseInput } from "../generated/castle/v1/ElectLeadersResponse.js";
export type { FetchPartitionResponse, FetchPartitionResponseInput } from "../generated/castle/v1/FetchPartitionResponse.js";
export type { FetchRequest, FetchRequestInput } from "../generated/castle/v1/FetchRequest.js";
export type { FetchResponse, FetchResponseInput } from "../generated/castle/v1/FetchResponse.js";
export type { FindCoordinatorRequest, FindCoordinatorRequestInput } from "../generated/castle/v1/FindCoordinatorRequest.js";
export type { FindCoordinatorResponse, FindCoordinatorResponseInput } from "../generated/castle/v1/FindCoordinatorResponse.js";
export type { GroupClient, GroupHandlers } from "../generated/castle/v1/Group.js";
export type { HeartbeatRequest, HeartbeatRequestInput } from "../generated/castle/v1/HeartbeatRequest.js";
export type { HeartbeatResponse, HeartbeatResponseInput } from "../generated/castle/v1/HeartbeatResponse.js";
export type { JoinGroupMember, JoinGroupMemberInput } from "../generated/castle/v1/JoinGroupMember.js";
export type { JoinGroupProtocol, JoinGroupProtocolInput } from "../generated/castle/v1/JoinGroupProtocol.js";
export type { JoinGroupRequest, JoinGroupRequestInput } from "../generated/castle/v1/JoinGroupRequest.js";
export type { JoinGroupResponse, JoinGroupResponseInput } from "../generated/castle/v1/JoinGroupResponse.js";
export type { LeaveGroupRequest, LeaveGroupRequestInput } from "../generated/castle/v1/LeaveGroupRequest.js";
export type { LeaveGroupResponse, LeaveGroupResponseInput } from "../generated/castle/v1/LeaveGroupResponse.js";
export type { LeavingMember, LeavingMemberInput } from "../generated/castle/v1/LeavingMember.js";
export type { LeavingMemberResult, LeavingMemberResultInput } from "../generated/castle/v1/LeavingMemberResult.js";
export type { ListedGroup, ListedGroupInput } from "../generated/castle/v1/ListedGroup.js";
export type { ListGroupsRequest, ListGroupsRequestInput } from "../generated/castle/v1/ListGroupsRequest.js";
export type { ListGroupsResponse, ListGroupsResponseInput } from "../generated/castle/v1/ListGroupsResponse.js";
export type { ListOffsetsPartitionResponseInput } from "../generated/castle/v1/ListOffsetsPartitionResponse.js";
export type { ListOffsetsRequest, ListOffsetsRequestInput } from "../generated/castle/v1/ListOffsetsRequest.js";
export type { ListOffsetsResponse, ListOffsetsResponseInput } from "../generated/castle/v1/ListOffsetsResponse.js";
export type { ListTopicsRequest, ListTopicsRequestInput } from "../generated/castle/v1/ListTopicsRequest.js";
export type { ListTopicsResponse, ListTopicsResponseInput } from "../generated/castle/v1/ListTopicsResponse.js";
export type { MetadataRequest, MetadataRequestInput } from "../generated/castle/v1/MetadataRequest.js";
export type { MetadataResponse, MetadataResponseInput } from "../generated/castle/v1/MetadataResponse.js";
export type { OffsetCommitPartition, OffsetCommitPartitionInput } from "../generated/castle/v1/OffsetCommitPartition.js";
export type {
  OffsetCommitPartitionResponse,
  OffsetCommitPartitionResponseInput,
} from "../generated/castle/v1/OffsetCommitPartitionResponse.js";
export type { OffsetCommitRequest, OffsetCommitRequestInput } from "../generated/castle/v1/OffsetCommitRequest.js";
export type { OffsetCommitResponse, OffsetCommitResponseInput } from "../generated/castle/v1/OffsetCommitResponse.js";
export type { OffsetCommitTopic, OffsetCommitTopicInput } from "../generated/castle/v1/OffsetCommitTopic.js";
export type { OffsetCommitTopicResponse, OffsetCommitTopicResponseInput } from "../generated/castle/v1/OffsetCommitTopicResponse.js";
export type {
  OffsetFetchPartitionResponse,
  OffsetFetchPartitionResponseInput,
} from "../generated/castle/v1/OffsetFetchPartitionResponse.js";
export type { OffsetFetchRequest, OffsetFetchRequestInput } from "../generated/castle/v1/OffsetFetchRequest.js";
export type { OffsetFetchResponse, OffsetFetchResponseInput } from "../generated/castle/v1/OffsetFetchResponse.js";
export type { OffsetFetchTopic, OffsetFetchTopicInput } from "../generated/castle/v1/OffsetFetchTopic.js";
export type { OffsetFetchTopicResponse, OffsetFetchTopicResponseInput } from "../generated/castle/v1/OffsetFetchTopicResponse.js";
export type {
  OffsetForLeaderEpochRequest,
  OffsetForLeaderEpochRequestInput,
} from "../generated/castle/v1/OffsetForLeaderEpochRequest.js";
export type {
  OffsetForLeaderEpochResponse,
  OffsetForLeaderEpochResponseInput,
} from "../generated/castle/v1/OffsetForLeaderEpochResponse.js";
export type { PartitionMetadata, PartitionMetadataInput } from "../generated/castle/v1/PartitionMetadata.js";
export type { PartitionProduceData } from "../generated/castle/v1/PartitionProduceData.js";
export type { PartitionProduceResponse, PartitionProduceResponseInput } from "../generated/castle/v1/PartitionProduceResponse.js";
export type { ProduceRequest, ProduceRequestInput } from "../generated/castle/v1/ProduceRequest.js";
export type { ProduceResponse, ProduceResponseInput } from "../generated/castle/v1/ProduceResponse.js";
export type { ProduceStreamRequest, ProduceStreamRequestInput } from "../generated/castle/v1/ProduceStreamRequest.js";
export type { ProduceStreamResponse, ProduceStreamResponseInput } from "../generated/castle/v1/ProduceStreamResponse.js";
export type { QuorumReplica, QuorumReplicaInput } from "../generated/castle/v1/QuorumReplica.js";
export type { RaftClient, RaftHandlers } from "../generated/castle/v1/Raft.js";
export type { RaftAppendRequest as WireRaftAppendRequest } from "../generated/castle/v1/RaftAppendRequest.js";
export type { RaftAppendResponse as WireRaftAppendResponse } from "../generated/castle/v1/RaftAppendResponse.js";
export type { RaftConfState as WireRaftConfState } from "../generated/castle/v1/RaftConfState.js";
export type { RaftEntry as WireRaftEntry, RaftEntryInput as WireRaftEntryInput } from "../generated/castle/v1/RaftEntry.js";
export type { RaftEntryType as WireRaftEntryType } from "../generated/castle/v1/RaftEntryType.js";
export type { RaftMessage as WireRaftMessage, RaftMessageInput as WireRaftMessageInput } from "../generated/castle/v1/RaftMessage.js";
export type { RaftSnapshotMeta as WireRaftSnapshotMeta } from "../generated/castle/v1/RaftSnapshotMeta.js";
export type { RaftSnapshotRequest as WireRaftSnapshotRequest } from "../generated/castle/v1/RaftSnapshotRequest.js";
export type { RaftSnapshotResponse as WireRaftSnapshotResponse } from "../generated/castle/v1/RaftSnapshotResponse.js";
export type { RaftStepRequest, RaftStepRequestInput } from "../generated/castle/v1/RaftStepRequest.js";
export type { RaftStepResponse, RaftStepResponseInput } from "../generated/castle/v1/RaftStepResponse.js";
export type { RaftVoteRequest as WireRaftVoteRequest } from "../generated/castle/v1/RaftVoteRequest.js";
export type { RaftVoteResponse as WireRaftVoteResponse } from "../generated/castle/v1/RaftVoteResponse.js";
export type { Record as WireRecord, RecordInput as WireRecordInput } from "../generated/castle/v1/Record.js";
export type { RecordFormat } from "../generated/castle/v1/RecordFormat.js";
export type { RecordHeader as WireRecordHeader } from "../generated/castle/v1/RecordHeader.js";
export type {
  RegisterBrokerRequest as WireRegisterBrokerRequest,
  RegisterBrokerRequestInput as WireRegisterBrokerRequestInput,
} from "../generated/castle/v1/RegisterBrokerRequest.js";
export type {
  RegisterBrokerResponse as WireRegisterBrokerResponse,
  RegisterBrokerResponseInput as WireRegisterBrokerResponseInput,
} from "../generated/castle/v1/RegisterBrokerResponse.js";
export type { ReplicaFetchStreamRequest, ReplicaFetchStreamRequestInput } from "../generated/castle/v1/ReplicaFetchStreamRequest.js";
export type { ReplicaFetchStreamResponse, ReplicaFetchStreamResponseInput } from "../generated/castle/v1/ReplicaFetchStreamResponse.js";
export type { SyncGroupAssignment, SyncGroupAssignmentInput } from "../generated/castle/v1/SyncGroupAssignment.js";
export type { SyncGroupRequest, SyncGroupRequestInput } from "../generated/castle/v1/SyncGroupRequest.js";
export type { SyncGroupResponse, SyncGroupResponseInput } from "../generated/castle/v1/SyncGroupResponse.js";
export type { TopicMetadata, TopicMetadataInput } from "../generated/castle/v1/TopicMetadata.js";
export type { TopicPartitions, TopicPartitionsInput } from "../generated/castle/v1/TopicPartitions.js";
