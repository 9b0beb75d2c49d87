#!/usr/bin/env python3
"""Creates a user pool, two app clients (one with a secret) and a confirmed user in a moto
Cognito server, signs the user in once, and prints what the test needs as JSON."""
import json
import sys

import boto3

url = sys.argv[1]
c = boto3.client("cognito-idp", endpoint_url=url, region_name="us-east-1",
                 aws_access_key_id="test", aws_secret_access_key="test")
flows = ["ALLOW_USER_PASSWORD_AUTH", "ALLOW_REFRESH_TOKEN_AUTH"]
pool = c.create_user_pool(PoolName="stowage")["UserPool"]["Id"]
plain = c.create_user_pool_client(UserPoolId=pool, ClientName="plain",
                                  ExplicitAuthFlows=flows)["UserPoolClient"]
secret = c.create_user_pool_client(UserPoolId=pool, ClientName="secret", GenerateSecret=True,
                                   ExplicitAuthFlows=flows)["UserPoolClient"]
c.admin_create_user(UserPoolId=pool, Username="carla", TemporaryPassword="Temp-pass-1",
                    UserAttributes=[{"Name": "email", "Value": "carla@example.com"}])
c.admin_set_user_password(UserPoolId=pool, Username="carla", Password="Carla-pass-123",
                          Permanent=True)
auth = c.initiate_auth(ClientId=plain["ClientId"], AuthFlow="USER_PASSWORD_AUTH",
                       AuthParameters={"USERNAME": "carla", "PASSWORD": "Carla-pass-123"})
print(json.dumps({
    "pool": pool,
    "plain_client": plain["ClientId"],
    "secret_client": secret["ClientId"],
    "secret": secret["ClientSecret"],
    "id_token": auth["AuthenticationResult"]["IdToken"],
    "access_token": auth["AuthenticationResult"]["AccessToken"],
}))
